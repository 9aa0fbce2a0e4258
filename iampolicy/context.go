package iampolicy

// Context holds condition keys and their values (§6.5). Key names are case-insensitive,
// values are not. A key set with no values is present and empty (aws:TagKeys of a request
// without tags). The zero value is empty and ready; a nil *Context holds nothing.
//
// A Context is built per request (or per resource) and must not change while an evaluation
// reads it.
type Context struct {
	m map[string][]string
}

// Set sets a key's values, replacing earlier ones, and returns c for chaining.
func (c *Context) Set(key string, values ...string) *Context {
	if c.m == nil {
		c.m = make(map[string][]string)
	}
	if values == nil {
		values = []string{}
	}
	c.m[foldKey(key)] = values
	return c
}

// Values returns a key's values and whether the key is present.
func (c *Context) Values(key string) ([]string, bool) {
	if c == nil {
		return nil, false
	}
	v, ok := c.m[foldKey(key)]
	return v, ok
}

// Keys returns the keys as stored (folded), for the decoded authorization message.
func (c *Context) Keys() []string {
	if c == nil {
		return nil
	}
	keys := make([]string, 0, len(c.m))
	for k := range c.m {
		keys = append(keys, k)
	}
	return keys
}

// get looks up an already folded key without allocating.
func (c *Context) get(folded string) ([]string, bool) {
	if c == nil {
		return nil, false
	}
	v, ok := c.m[folded]
	return v, ok
}

// Well-known condition keys Stockade supplies (§6.5).
const (
	KeySourceIP              = "aws:SourceIp"
	KeyPrincipalARN          = "aws:PrincipalArn"
	KeyPrincipalAccount      = "aws:PrincipalAccount"
	KeyPrincipalType         = "aws:PrincipalType"
	KeyUserID                = "aws:userid"
	KeyUsername              = "aws:username"
	KeyRequestedRegion       = "aws:RequestedRegion"
	KeyCurrentTime           = "aws:CurrentTime"
	KeyEpochTime             = "aws:EpochTime"
	KeySecureTransport       = "aws:SecureTransport"
	KeyMultiFactorAuth       = "aws:MultiFactorAuthPresent"
	KeyTokenIssueTime        = "aws:TokenIssueTime"
	KeyUserAgent             = "aws:UserAgent"
	KeyViaAWSService         = "aws:ViaAWSService"
	KeyTagKeys               = "aws:TagKeys"
	KeyResourceTagPrefix     = "aws:ResourceTag/"
	KeyRequestTagPrefix      = "aws:RequestTag/"
	KeyPrincipalTagPrefix    = "aws:PrincipalTag/"
	KeyEC2Region             = "ec2:Region"
	KeyEC2ResourceTagPrefix  = "ec2:ResourceTag/"
	KeyEC2SecurityGroupID    = "ec2:SecurityGroupID"
	KeyEC2Vpc                = "ec2:Vpc"
	KeyEC2VpcID              = "ec2:VpcID"
	KeyEC2Tenancy            = "ec2:Tenancy"
	KeyEC2CreateAction       = "ec2:CreateAction"
	KeySTSRoleSessionName    = "sts:RoleSessionName"
	KeyEC2Subnet             = "ec2:Subnet"
	KeyEC2InstanceType       = "ec2:InstanceType"
	KeyEC2NetworkInterfaceID = "ec2:NetworkInterfaceID"
)

// SetResourceTags sets aws:ResourceTag/<k> and ec2:ResourceTag/<k> (the same value, §6.5)
// for every tag of a resource.
func (c *Context) SetResourceTags(tags map[string]string) *Context {
	for k, v := range tags {
		c.Set(KeyResourceTagPrefix+k, v)
		c.Set(KeyEC2ResourceTagPrefix+k, v)
	}
	return c
}

// SetRequestTags sets aws:RequestTag/<k> for every tag a request supplies and aws:TagKeys to
// their keys (present, possibly empty).
func (c *Context) SetRequestTags(tags map[string]string) *Context {
	keys := make([]string, 0, len(tags))
	for k, v := range tags {
		c.Set(KeyRequestTagPrefix+k, v)
		keys = append(keys, k)
	}
	c.Set(KeyTagKeys, keys...)
	return c
}
