package ec2api

import (
	"slices"
	"strings"
	"testing"
)

func TestVPCAndSubnetErrors(t *testing.T) {
	c := newTestAPI(t, "vpcs=3").newAccount("alice")
	vpc := field(c.ok("CreateVpc", "CidrBlock", "10.0.0.0/16", "InstanceTenancy", "dedicated"), "vpcId")
	tests := []struct {
		name, code, action string
		params             []string
	}{
		{"vpc too large", "InvalidVpc.Range", "CreateVpc", kv("CidrBlock", "10.0.0.0/15")},
		{"vpc too small", "InvalidVpc.Range", "CreateVpc", kv("CidrBlock", "10.0.0.0/29")},
		{"vpc not a cidr", "InvalidParameterValue", "CreateVpc", kv("CidrBlock", "10.0.0.0")},
		{"vpc host tenancy", "InvalidParameterValue", "CreateVpc", kv("CidrBlock", "10.0.0.0/16", "InstanceTenancy", "host")},
		{"vpc missing cidr", "MissingParameter", "CreateVpc", nil},
		{"subnet outside vpc", "InvalidSubnet.Range", "CreateSubnet", kv("VpcId", vpc, "CidrBlock", "10.1.0.0/24")},
		{"subnet too small", "InvalidSubnet.Range", "CreateSubnet", kv("VpcId", vpc, "CidrBlock", "10.0.0.0/29")},
		{"subnet unknown vpc", "InvalidVpcID.NotFound", "CreateSubnet", kv("VpcId", "vpc-0123456789abcdef0", "CidrBlock", "10.0.0.0/24")},
		{"subnet bad zone", "InvalidParameterValue", "CreateSubnet", kv("VpcId", vpc, "CidrBlock", "10.0.9.0/24", "AvailabilityZone", "mars-1a")},
		{"delete unknown vpc", "InvalidVpcID.NotFound", "DeleteVpc", kv("VpcId", "vpc-0123456789abcdef0")},
		{"delete unknown subnet", "InvalidSubnetID.NotFound", "DeleteSubnet", kv("SubnetId", "subnet-0123456789abcdef0")},
		{"describe unknown vpc", "InvalidVpcID.NotFound", "DescribeVpcs", kv("VpcId.1", vpc, "VpcId.2", "vpc-0123456789abcdef0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, tt.action, tt.params...) })
	}
	sn := c.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24", "AvailabilityZone", "us-east-1b")
	if field(sn, "availableIpAddressCount") != "251" || field(sn, "availabilityZoneId") != "use1-az2" {
		t.Errorf("subnet: %s", sn)
	}
	c.fails("InvalidSubnet.Conflict", "CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.128/25")
	// The default VPC counts: default + 2 more reach the quota of 3.
	c.ok("CreateVpc", "CidrBlock", "10.9.0.0/16")
	c.fails("VpcLimitExceeded", "CreateVpc", "CidrBlock", "10.8.0.0/16")
	if got := xmlFields(c.ok("DescribeVpcs", "Filter.1.Name", "instance-tenancy", "Filter.1.Value.1", "dedicated"), "vpcId"); !slices.Equal(got, []string{vpc}) {
		t.Errorf("tenancy filter: %v", got)
	}
}

func TestTags(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	vpc, web := vpcWithGroup(t, c, "web")
	c.ok("CreateTags", "ResourceId.1", vpc, "ResourceId.2", web, "Tag.1.Key", "env", "Tag.1.Value", "prod", "Tag.2.Key", "owner")
	tags := c.ok("DescribeTags", "Filter.1.Name", "resource-id", "Filter.1.Value.1", web)
	if got := xmlFields(tags, "key"); !slices.Equal(got, []string{"env", "owner"}) || field(tags, "resourceType") != "security-group" {
		t.Errorf("tags: %s", tags)
	}
	if got := xmlFields(c.ok("DescribeVpcs", "Filter.1.Name", "tag:env", "Filter.1.Value.1", "prod"), "vpcId"); !slices.Equal(got, []string{vpc}) {
		t.Errorf("tag filter: %v", got)
	}
	c.fails("InvalidParameterValue", "CreateTags", "ResourceId.1", web, "Tag.1.Key", "aws:reserved")
	c.fails("InvalidGroup.NotFound", "CreateTags", "ResourceId.1", vpc, "ResourceId.2", "sg-0123456789abcdef0", "Tag.1.Key", "k")
	if strings.Contains(c.ok("DescribeTags", "Filter.1.Name", "key", "Filter.1.Value.1", "k"), "<item>") {
		t.Error("a failed CreateTags tagged the first resource")
	}
	// 50 user tags is the limit.
	params := []string{"ResourceId.1", web}
	for i := 0; i < 49; i++ {
		params = append(params, kv("Tag."+itoa(i+1)+".Key", "k"+itoa(i))...)
	}
	c.fails("TagLimitExceeded", "CreateTags", params...)
	// DeleteTags: value must match when given; key alone deletes.
	c.ok("DeleteTags", "ResourceId.1", web, "Tag.1.Key", "env", "Tag.1.Value", "dev")
	c.ok("DeleteTags", "ResourceId.1", web, "Tag.1.Key", "owner")
	if got := xmlFields(c.ok("DescribeTags", "Filter.1.Name", "resource-id", "Filter.1.Value.1", web), "key"); !slices.Equal(got, []string{"env"}) {
		t.Errorf("after deletes: %v", got)
	}
	c.ok("DeleteTags", "ResourceId.1", vpc)
	if strings.Contains(c.ok("DescribeTags", "Filter.1.Name", "resource-id", "Filter.1.Value.1", vpc), "<item>") {
		t.Error("DeleteTags without Tag.N left tags")
	}
	// Rules are taggable at creation.
	rule := field(c.ok("AuthorizeSecurityGroupIngress", "GroupId", web, "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8",
		"TagSpecification.1.ResourceType", "security-group-rule", "TagSpecification.1.Tag.1.Key", "why", "TagSpecification.1.Tag.1.Value", "vpn"), "securityGroupRuleId")
	if got := xmlFields(c.ok("DescribeSecurityGroupRules", "Filter.1.Name", "tag:why", "Filter.1.Value.1", "vpn"), "securityGroupRuleId"); !slices.Equal(got, []string{rule}) {
		t.Errorf("rule tag filter: %v", got)
	}
	c.fails("InvalidParameterValue", "CreateSecurityGroup", "VpcId", vpc, "GroupName", "x", "GroupDescription", "x", "TagSpecification.1.ResourceType", "vpc", "TagSpecification.1.Tag.1.Key", "k")
}

func TestKeyPairs(t *testing.T) {
	c := newTestAPI(t).newAccount("alice")
	body := c.ok("CreateKeyPair", "KeyName", "deploy", "KeyType", "ed25519")
	if !strings.Contains(field(body, "keyMaterial"), "PRIVATE KEY") || field(body, "keyPairId") == "" {
		t.Errorf("CreateKeyPair: %s", body)
	}
	c.fails("InvalidKeyPair.Duplicate", "CreateKeyPair", "KeyName", "deploy")
	c.fails("InvalidParameterValue", "CreateKeyPair", "KeyName", "x", "KeyType", "dsa")
	desc := c.ok("DescribeKeyPairs", "KeyName.1", "deploy", "IncludePublicKey", "true")
	if field(desc, "keyType") != "ed25519" || !strings.HasPrefix(field(desc, "publicKey"), "ssh-ed25519 ") || strings.Contains(desc, "PRIVATE") {
		t.Errorf("DescribeKeyPairs: %s", desc)
	}
	c.fails("InvalidKeyPair.NotFound", "DescribeKeyPairs", "KeyName.1", "nope")
	pub := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl imported"
	c.ok("ImportKeyPair", "KeyName", "mine", "PublicKeyMaterial", b64(pub))
	c.fails("InvalidKeyPair.Format", "ImportKeyPair", "KeyName", "bad", "PublicKeyMaterial", b64("not a key"))
	c.ok("DeleteKeyPair", "KeyName", "mine")
	c.ok("DeleteKeyPair", "KeyName", "never-existed")
	c.fails("InvalidKeyPair.NotFound", "DeleteKeyPair", "KeyPairId", "key-0123456789abcdef0")
	if got := xmlFields(c.ok("DescribeKeyPairs"), "keyName"); !slices.Equal(got, []string{"deploy"}) {
		t.Errorf("key pairs left: %v", got)
	}
}

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
