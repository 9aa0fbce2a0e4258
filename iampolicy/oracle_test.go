package iampolicy

import (
	"strings"
	"testing"
)

// The test oracle of shared/spec/trail-iam.md §8.1: alice's tag- and source-restricted ingress
// policy, evaluated for the table's requests and its variants.
const (
	acct       = "111122223333"
	region     = "eu-west-1"
	aliceARN   = "arn:aws:iam::111122223333:user/ops/alice"
	authIngr   = "ec2:AuthorizeSecurityGroupIngress"
	devIngress = `{"Version": "2012-10-17",
 "Statement": [
  {"Sid": "DevIngressFromCorp", "Effect": "Allow",
   "Action": "ec2:AuthorizeSecurityGroupIngress",
   "Resource": "arn:aws:ec2:*:111122223333:security-group/*",
   "Condition": {"StringEquals": {"aws:ResourceTag/env": "dev"},
                 "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
  {"Sid": "Read", "Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}`
	mfaDeny = `{"Effect":"Deny","Action":"ec2:*","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}`
)

var oracleGroups = map[string]map[string]string{
	"sg-0aaa00000000000a1": {"env": "dev"},
	"sg-0ccc00000000000c1": {"env": "prod"},
	"sg-0ddd00000000000d1": {"ENV": "dev"},
	"sg-0eee00000000000e1": {"env": "Dev"},
}

func sgResource(id string) Resource {
	ctx := (&Context{}).SetResourceTags(oracleGroups[id]).
		Set(KeyEC2SecurityGroupID, id).
		Set(KeyEC2Vpc, "arn:aws:ec2:eu-west-1:111122223333:vpc/vpc-0bbb00000000000b1").
		Set(KeyEC2Region, region)
	return Resource{ARN: "arn:aws:ec2:eu-west-1:111122223333:security-group/" + id, Context: ctx}
}

func aliceRequest(action, sourceIP string, res ...Resource) *Request {
	ctx := (&Context{}).Set(KeySourceIP, sourceIP).Set(KeyUsername, "alice").
		Set(KeyPrincipalARN, aliceARN).Set(KeyRequestedRegion, region)
	return &Request{Principal: Principal{ARN: aliceARN, Account: acct}, Action: action, Resources: res, Context: ctx}
}

func mustParse(t testing.TB, doc string, kind Kind) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc), kind)
	if err != nil {
		t.Fatalf("Parse(%s): %v", doc, err)
	}
	return p
}

func compileAlice(t testing.TB, doc string) *Compiled {
	return Compile(Set{Identity: []NamedPolicy{{Name: "dev-ingress", Policy: mustParse(t, doc, Identity)}}})
}

func TestOracle81(t *testing.T) {
	base := compileAlice(t, devIngress)
	withMFADeny := compileAlice(t, strings.Replace(devIngress, `"Resource": "*"}]`, `"Resource": "*"}, `+mfaDeny+`]`, 1))
	actionCase := compileAlice(t, strings.Replace(devIngress, `"Action": "ec2:AuthorizeSecurityGroupIngress"`,
		`"Action": "EC2:authorizesecuritygroupingress"`, 1))
	narrowed := compileAlice(t, strings.Replace(devIngress, `arn:aws:ec2:*:111122223333:security-group/*`,
		`arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0aaa*`, 1))
	ruleRes := Resource{ARN: "arn:aws:ec2:eu-west-1:111122223333:security-group-rule/*",
		Context: (&Context{}).SetRequestTags(map[string]string{"k": "v"})}

	tests := []struct {
		name   string
		c      *Compiled
		req    *Request
		want   Reason
		reason string
	}{
		{"1 corp source, dev group", base, aliceRequest(authIngr, "10.1.2.3", sgResource("sg-0aaa00000000000a1")), Allowed, ""},
		{"2 outside source", base, aliceRequest(authIngr, "192.0.2.50", sgResource("sg-0aaa00000000000a1")), NoIdentityAllow,
			"because no identity-based policy allows the ec2:AuthorizeSecurityGroupIngress action"},
		{"3 prod group", base, aliceRequest(authIngr, "10.1.2.3", sgResource("sg-0ccc00000000000c1")), NoIdentityAllow, ""},
		{"4 tag key ENV", base, aliceRequest(authIngr, "10.1.2.3", sgResource("sg-0ddd00000000000d1")), Allowed, ""},
		{"5 tag value Dev", base, aliceRequest(authIngr, "10.1.2.3", sgResource("sg-0eee00000000000e1")), NoIdentityAllow, ""},
		{"6 with a rule tag specification", base, aliceRequest(authIngr, "10.1.2.3", sgResource("sg-0aaa00000000000a1"), ruleRes), NoIdentityAllow, ""},
		{"6 CreateTags on the rule", base, aliceRequest("ec2:CreateTags", "10.1.2.3", ruleRes), NoIdentityAllow, ""},
		{"7 describe from outside", base, aliceRequest("ec2:DescribeSecurityGroups", "192.0.2.50"), Allowed, ""},
		{"MFA deny on 1", withMFADeny, aliceRequest(authIngr, "10.1.2.3", sgResource("sg-0aaa00000000000a1")), ExplicitDenyIdentity,
			"with an explicit deny in an identity-based policy"},
		{"MFA deny on 7", withMFADeny, aliceRequest("ec2:DescribeSecurityGroups", "192.0.2.50"), ExplicitDenyIdentity, ""},
		{"MFA present false for a session still denies", withMFADeny, func() *Request {
			r := aliceRequest(authIngr, "10.1.2.3", sgResource("sg-0aaa00000000000a1"))
			r.Context.Set(KeyMultiFactorAuth, "false")
			return r
		}(), ExplicitDenyIdentity, ""},
		{"MFA present true escapes the deny", withMFADeny, func() *Request {
			r := aliceRequest(authIngr, "10.1.2.3", sgResource("sg-0aaa00000000000a1"))
			r.Context.Set(KeyMultiFactorAuth, "true")
			return r
		}(), Allowed, ""},
		{"action case changes nothing", actionCase, aliceRequest(authIngr, "10.1.2.3", sgResource("sg-0aaa00000000000a1")), Allowed, ""},
		{"action case: 3 still denied", actionCase, aliceRequest(authIngr, "10.1.2.3", sgResource("sg-0ccc00000000000c1")), NoIdentityAllow, ""},
		{"narrowed resource keeps 1", narrowed, aliceRequest(authIngr, "10.1.2.3", sgResource("sg-0aaa00000000000a1")), Allowed, ""},
		{"narrowed resource denies 4", narrowed, aliceRequest(authIngr, "10.1.2.3", sgResource("sg-0ddd00000000000d1")), NoIdentityAllow, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.c.Evaluate(tt.req)
			if d.Reason != tt.want || d.Allowed != (tt.want == Allowed) {
				t.Fatalf("decision %+v, want reason %d", d, tt.want)
			}
			if tt.reason != "" {
				want := "User: " + aliceARN + " is not authorized to perform: " + tt.req.Action +
					" on resource: " + d.Resource + " " + tt.reason
				if got := d.Message(aliceARN, tt.req.Action); got != want {
					t.Errorf("message %q, want %q", got, want)
				}
			}
		})
	}
}
