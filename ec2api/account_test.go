package ec2api

import (
	"strings"
	"testing"
)

func TestAccountAttributesAndCallerIdentity(t *testing.T) {
	api := newTestAPI(t)
	c := api.newAccount("alice")
	body := c.ok("DescribeAccountAttributes")
	if !strings.Contains(body, "<attributeName>vpc-max-security-groups-per-interface</attributeName><attributeValueSet><item><attributeValue>5</attributeValue>") {
		t.Errorf("attributes: %s", body)
	}
	if dv := field(c.ok("DescribeAccountAttributes", "AttributeName.1", "default-vpc"), "attributeValue"); !strings.HasPrefix(dv, "vpc-") {
		t.Errorf("default-vpc = %q", dv)
	}
	sts := *c
	sts.service = "sts"
	r := sts.send("Action=GetCallerIdentity&Version=2011-06-15")
	if r.Status != 200 || field(r.Body, "Account") != c.acct.ID {
		t.Errorf("GetCallerIdentity: %d %s", r.Status, r.Body)
	}
}
