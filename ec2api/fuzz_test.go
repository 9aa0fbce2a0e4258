package ec2api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzServe sends arbitrary request bodies through the whole handler (in emulator mode, so
// that they reach the decoder and the actions) and requires an EC2 reply — success or a
// client error — never a panic or an internal error.
func FuzzServe(f *testing.F) {
	seeds := []string{
		"Action=DescribeSecurityGroups&Version=2016-11-15",
		"Action=CreateSecurityGroup&Version=2016-11-15&GroupName=web&GroupDescription=w",
		"Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupName=web&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0",
		"Action=RevokeSecurityGroupIngress&Version=2016-11-15&GroupName=web&IpPermissions.1.IpProtocol=-1&IpPermissions.1.Groups.1.GroupName=web",
		"Action=DescribeSecurityGroups&Version=2016-11-15&Filter.1.Name=ip-permission.cidr&Filter.1.Value.1=*&MaxResults=5&NextToken=x",
		"Action=RunInstances&Version=2016-11-15&ImageId=ami-0defa017000000001&MinCount=1&MaxCount=2&SecurityGroup.1=web",
		"Action=CreateTags&Version=2016-11-15&ResourceId.1=sg-12345678&Tag.1.Key=a",
		"Action=ModifySecurityGroupRules&Version=2016-11-15&GroupId=sg-12345678&SecurityGroupRule.1.SecurityGroupRuleId=sgr-12345678",
		"Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0/16&AmazonProvidedIpv6CidrBlock=true",
		"Action=ImportKeyPair&Version=2016-11-15&KeyName=k&PublicKeyMaterial=AAAA",
		"%zz&&==Action",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	api, _ := newEmulatorAPI(f)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.String())
		}
		if !strings.HasPrefix(rec.Body.String(), `<?xml version="1.0" encoding="UTF-8"?>`) {
			t.Fatalf("not an XML reply for %q: %s", body, rec.Body.String())
		}
	})
}
