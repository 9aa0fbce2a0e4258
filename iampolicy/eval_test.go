package iampolicy

import (
	"fmt"
	"strings"
	"testing"
)

func stmtDoc(stmts ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

// condAllow is an Allow of everything under one Condition block.
func condAllow(cond string) string {
	return stmtDoc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":` + cond + `}`)
}

func TestConditions(t *testing.T) {
	ctx := func(kv ...string) *Context {
		c := &Context{}
		for i := 0; i+1 < len(kv); i += 2 {
			c.Set(kv[i], strings.Split(kv[i+1], ",")...)
		}
		return c
	}
	tests := []struct {
		cond string
		ctx  *Context
		want bool
	}{
		{`{"StringEquals":{"aws:username":"alice"}}`, ctx("aws:username", "alice"), true},
		{`{"StringEquals":{"aws:username":"alice"}}`, ctx("aws:username", "Alice"), false},
		{`{"StringEquals":{"aws:username":["bob","alice"]}}`, ctx("aws:username", "alice"), true},
		{`{"StringEquals":{"AWS:UserName":"alice"}}`, ctx("aws:username", "alice"), true},
		{`{"StringEquals":{"aws:username":"alice"}}`, ctx(), false},
		{`{"StringNotEquals":{"aws:username":"alice"}}`, ctx(), true},
		{`{"StringNotEquals":{"aws:username":["alice","bob"]}}`, ctx("aws:username", "bob"), false},
		{`{"StringNotEquals":{"aws:username":["alice","bob"]}}`, ctx("aws:username", "carol"), true},
		{`{"StringEqualsIfExists":{"aws:username":"alice"}}`, ctx(), true},
		{`{"StringEqualsIfExists":{"aws:username":"alice"}}`, ctx("aws:username", "bob"), false},
		{`{"StringEqualsIgnoreCase":{"aws:username":"ALICE"}}`, ctx("aws:username", "alice"), true},
		{`{"StringNotEqualsIgnoreCase":{"aws:username":"ALICE"}}`, ctx("aws:username", "alice"), false},
		{`{"StringLike":{"aws:username":"al*"}}`, ctx("aws:username", "alice"), true},
		{`{"StringLike":{"aws:username":"al?ce"}}`, ctx("aws:username", "alice"), true},
		{`{"StringLike":{"aws:username":"AL*"}}`, ctx("aws:username", "alice"), false},
		{`{"StringNotLike":{"aws:username":"al*"}}`, ctx("aws:username", "bob"), true},
		{`{"StringEquals":{"aws:username":"al*"}}`, ctx("aws:username", "alice"), false},
		{`{"NumericLessThan":{"ec2:Count":"10"}}`, ctx("ec2:Count", "9"), true},
		{`{"NumericLessThan":{"ec2:Count":10}}`, ctx("ec2:Count", "10"), false},
		{`{"NumericLessThanEquals":{"ec2:Count":10}}`, ctx("ec2:Count", "10"), true},
		{`{"NumericGreaterThan":{"ec2:Count":10}}`, ctx("ec2:Count", "10.5"), true},
		{`{"NumericGreaterThanEquals":{"ec2:Count":10}}`, ctx("ec2:Count", "9"), false},
		{`{"NumericEquals":{"ec2:Count":"x"}}`, ctx("ec2:Count", "1"), false},
		{`{"NumericNotEquals":{"ec2:Count":"5"}}`, ctx("ec2:Count", "6"), true},
		{`{"DateLessThan":{"aws:CurrentTime":"2025-03-05T00:00:00Z"}}`, ctx("aws:CurrentTime", "2025-03-04T10:15:30Z"), true},
		{`{"DateGreaterThan":{"aws:CurrentTime":"2025-03-05"}}`, ctx("aws:CurrentTime", "2025-03-04T10:15:30Z"), false},
		{`{"DateEquals":{"aws:EpochTime":"1741083330"}}`, ctx("aws:EpochTime", "1741083330"), true},
		{`{"DateLessThanEquals":{"aws:CurrentTime":1741083330}}`, ctx("aws:CurrentTime", "2025-03-04T10:15:30Z"), true},
		{`{"DateNotEquals":{"aws:CurrentTime":"2025-03-04T10:15:30Z"}}`, ctx("aws:CurrentTime", "2025-03-04T10:15:30Z"), false},
		{`{"Bool":{"aws:SecureTransport":"true"}}`, ctx("aws:SecureTransport", "true"), true},
		{`{"Bool":{"aws:SecureTransport":true}}`, ctx("aws:SecureTransport", "false"), false},
		{`{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}`, ctx(), true},
		{`{"BinaryEquals":{"ec2:Blob":"QUJD"}}`, ctx("ec2:Blob", "QUJD"), true},
		{`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, ctx("aws:SourceIp", "10.9.8.7"), true},
		{`{"IpAddress":{"aws:SourceIp":"10.0.0.1"}}`, ctx("aws:SourceIp", "10.0.0.1"), true},
		{`{"IpAddress":{"aws:SourceIp":"10.0.0.1"}}`, ctx("aws:SourceIp", "10.0.0.2"), false},
		{`{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, ctx("aws:SourceIp", "2001:db8::5"), true},
		{`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, ctx("aws:SourceIp", "::ffff:10.1.1.1"), true},
		{`{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}`, ctx("aws:SourceIp", "192.168.1.1"), false},
		{`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, ctx("aws:SourceIp", "192.0.2.1"), true},
		{`{"IpAddress":{"aws:SourceIp":"bogus"}}`, ctx("aws:SourceIp", "10.0.0.1"), false},
		{`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::1:user/ops/*"}}`, ctx("aws:PrincipalArn", "arn:aws:iam::1:user/ops/alice"), true},
		{`{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::1:user/ops/*"}}`, ctx("aws:PrincipalArn", "arn:aws:iam::1:user/bob"), false},
		{`{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::1:user/ops/*"}}`, ctx("aws:PrincipalArn", "arn:aws:iam::1:user/bob"), true},
		{`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/*"}}`, ctx("aws:PrincipalArn", "arn:aws:iam:x:1:user/a"), false},
		{`{"Null":{"aws:TokenIssueTime":"true"}}`, ctx(), true},
		{`{"Null":{"aws:TokenIssueTime":"true"}}`, ctx("aws:TokenIssueTime", "x"), false},
		{`{"Null":{"aws:TokenIssueTime":"false"}}`, ctx("aws:TokenIssueTime", "x"), true},
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}}`, ctx("aws:TagKeys", "cost,team"), true},
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["env"]}}`, ctx("aws:TagKeys", "cost,team"), false},
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["env"]}}`, ctx(), false},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}`, ctx("aws:TagKeys", "env,team"), true},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}`, ctx("aws:TagKeys", "env,cost"), false},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["env"]}}`, ctx(), true},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["env"]}}`, (&Context{}).Set("aws:TagKeys"), true},
		{`{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["env"]}}`, ctx("aws:TagKeys", "env,cost"), true},
		{`{"ForAllValues:StringNotEquals":{"aws:TagKeys":["env"]}}`, ctx("aws:TagKeys", "env,cost"), false},
		{`{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":["env"]}}`, ctx(), true},
		// keys AND, operators AND, values OR
		{`{"StringEquals":{"aws:username":"a","aws:userid":"AIDA1"}}`, ctx("aws:username", "a", "aws:userid", "AIDA2"), false},
		{`{"StringEquals":{"aws:username":"a"},"Bool":{"aws:SecureTransport":"true"}}`, ctx("aws:username", "a", "aws:SecureTransport", "true"), true},
		// tag keys in condition keys fold
		{`{"StringEquals":{"aws:ResourceTag/Env":"dev"}}`, ctx("aws:resourcetag/ENV", "dev"), true},
		// policy variables
		{`{"StringEquals":{"aws:PrincipalTag/team":"${aws:username}"}}`, ctx("aws:PrincipalTag/team", "alice", "aws:username", "alice"), true},
		{`{"StringEquals":{"aws:PrincipalTag/team":"${aws:username}"}}`, ctx("aws:PrincipalTag/team", "alice"), false},
		{`{"StringEquals":{"aws:PrincipalTag/team":"${aws:username, 'ops'}"}}`, ctx("aws:PrincipalTag/team", "ops"), true},
		{`{"StringLike":{"aws:PrincipalTag/team":"${aws:username}-*"}}`, ctx("aws:PrincipalTag/team", "a*b-x", "aws:username", "a*b"), true},
		{`{"StringLike":{"aws:PrincipalTag/team":"${aws:username}-*"}}`, ctx("aws:PrincipalTag/team", "aXb-x", "aws:username", "a*b"), false},
		{`{"StringEquals":{"aws:PrincipalTag/team":"a${*}b"}}`, ctx("aws:PrincipalTag/team", "a*b"), true},
		{`{"StringLike":{"aws:PrincipalTag/team":"a${?}b"}}`, ctx("aws:PrincipalTag/team", "axb"), false},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tt.cond), func(t *testing.T) {
			c := Compile(Set{Identity: []NamedPolicy{{Name: "p", Policy: mustParse(t, condAllow(tt.cond), Identity)}}})
			d := c.Evaluate(&Request{Principal: Principal{ARN: aliceARN, Account: acct}, Action: "ec2:X", Context: tt.ctx})
			if d.Allowed != tt.want {
				t.Errorf("allowed = %v, want %v", d.Allowed, tt.want)
			}
		})
	}
}

func TestLegacyVersionKeepsVariablesLiteral(t *testing.T) {
	doc := `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::1:user/${aws:username}"}}`
	c := Compile(Set{Identity: []NamedPolicy{{Policy: mustParse(t, doc, Identity)}}})
	ctx := (&Context{}).Set(KeyUsername, "alice")
	for arn, want := range map[string]bool{"arn:aws:iam::1:user/alice": false, "arn:aws:iam::1:user/${aws:username}": true} {
		d := c.Evaluate(&Request{Action: "iam:GetUser", Resources: []Resource{{ARN: arn}}, Context: ctx})
		if d.Allowed != want {
			t.Errorf("%s: allowed %v, want %v", arn, d.Allowed, want)
		}
	}
	doc = strings.Replace(doc, "2008-10-17", "2012-10-17", 1)
	c = Compile(Set{Identity: []NamedPolicy{{Policy: mustParse(t, doc, Identity)}}})
	if d := c.Evaluate(&Request{Action: "iam:GetUser", Resources: []Resource{{ARN: "arn:aws:iam::1:user/alice"}}, Context: ctx}); !d.Allowed {
		t.Errorf("2012 variable not substituted: %+v", d)
	}
}

func TestDecisionAlgorithm(t *testing.T) {
	allowAll := mustParse(t, stmtDoc(`{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}`), Identity)
	allowEC2 := mustParse(t, stmtDoc(`{"Effect":"Allow","Action":"ec2:*","Resource":"*"}`), Identity)
	denySG := mustParse(t, stmtDoc(`{"Sid":"NoSG","Effect":"Deny","Action":"ec2:*SecurityGroup*","Resource":"*"}`), Identity)
	onlyA1 := mustParse(t, stmtDoc(`{"Effect":"Allow","Action":"ec2:AuthorizeSecurityGroupIngress","Resource":"arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0aaa00000000000a1"}`), Identity)
	notAction := mustParse(t, stmtDoc(`{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}`), Identity)
	notResource := mustParse(t, stmtDoc(`{"Effect":"Allow","Action":"ec2:*","NotResource":"arn:aws:ec2:*:*:security-group/sg-0ccc*"}`), Identity)
	a1 := sgResource("sg-0aaa00000000000a1")
	c1 := sgResource("sg-0ccc00000000000c1")
	np := func(p *Policy) NamedPolicy { return NamedPolicy{Name: "p", Policy: p} }
	tests := []struct {
		name string
		set  Set
		req  *Request
		want Reason
	}{
		{"no policies", Set{}, aliceRequest(authIngr, "1.1.1.1", a1), NoIdentityAllow},
		{"allow", Set{Identity: []NamedPolicy{np(allowAll)}}, aliceRequest(authIngr, "1.1.1.1", a1), Allowed},
		{"deny wins", Set{Identity: []NamedPolicy{np(allowAll), np(denySG)}}, aliceRequest(authIngr, "1.1.1.1", a1), ExplicitDenyIdentity},
		{"deny elsewhere", Set{Identity: []NamedPolicy{np(allowAll), np(denySG)}}, aliceRequest("ec2:DescribeVpcs", "1.1.1.1"), Allowed},
		{"boundary allows", Set{Identity: []NamedPolicy{np(allowAll)}, Boundary: &NamedPolicy{Policy: allowEC2}}, aliceRequest(authIngr, "1.1.1.1", a1), Allowed},
		{"boundary lacks", Set{Identity: []NamedPolicy{np(allowAll)}, Boundary: &NamedPolicy{Policy: allowEC2}}, aliceRequest("iam:ListUsers", "1.1.1.1"), NoBoundaryAllow},
		{"boundary denies", Set{Identity: []NamedPolicy{np(allowAll)}, Boundary: &NamedPolicy{Policy: denySG}}, aliceRequest(authIngr, "1.1.1.1", a1), ExplicitDenyBoundary},
		{"boundary cannot grant", Set{Boundary: &NamedPolicy{Policy: allowAll}}, aliceRequest(authIngr, "1.1.1.1", a1), NoIdentityAllow},
		{"session narrows", Set{Identity: []NamedPolicy{np(allowAll)}, Session: []NamedPolicy{np(onlyA1)}}, aliceRequest(authIngr, "1.1.1.1", c1), NoSessionAllow},
		{"session allows", Set{Identity: []NamedPolicy{np(allowAll)}, Session: []NamedPolicy{np(onlyA1)}}, aliceRequest(authIngr, "1.1.1.1", a1), Allowed},
		{"session cannot grant", Set{Identity: []NamedPolicy{np(onlyA1)}, Session: []NamedPolicy{np(allowAll)}}, aliceRequest(authIngr, "1.1.1.1", c1), NoIdentityAllow},
		{"session deny", Set{Identity: []NamedPolicy{np(allowAll)}, Session: []NamedPolicy{np(denySG)}}, aliceRequest(authIngr, "1.1.1.1", a1), ExplicitDenySession},
		{"empty session set denies", Set{Identity: []NamedPolicy{np(allowAll)}, Session: []NamedPolicy{}}, aliceRequest(authIngr, "1.1.1.1", a1), NoSessionAllow},
		{"every resource must pass", Set{Identity: []NamedPolicy{np(onlyA1)}}, aliceRequest(authIngr, "1.1.1.1", a1, c1), NoIdentityAllow},
		{"specific resource does not cover *", Set{Identity: []NamedPolicy{np(onlyA1)}}, aliceRequest(authIngr, "1.1.1.1"), NoIdentityAllow},
		{"NotAction", Set{Identity: []NamedPolicy{np(notAction)}}, aliceRequest("iam:ListUsers", "1.1.1.1"), NoIdentityAllow},
		{"NotAction other", Set{Identity: []NamedPolicy{np(notAction)}}, aliceRequest("ec2:DescribeVpcs", "1.1.1.1"), Allowed},
		{"NotResource", Set{Identity: []NamedPolicy{np(notResource)}}, aliceRequest(authIngr, "1.1.1.1", c1), NoIdentityAllow},
		{"NotResource other", Set{Identity: []NamedPolicy{np(notResource)}}, aliceRequest(authIngr, "1.1.1.1", a1), Allowed},
		{"NotResource covers *", Set{Identity: []NamedPolicy{np(notResource)}}, aliceRequest("ec2:DescribeVpcs", "1.1.1.1"), Allowed},
		{"GetCallerIdentity never denied", Set{Identity: []NamedPolicy{np(mustParse(t, stmtDoc(`{"Effect":"Deny","Action":"*","Resource":"*"}`), Identity))}},
			aliceRequest("sts:GetCallerIdentity", "1.1.1.1"), AlwaysAllowed},
		{"root", Set{}, &Request{Principal: Principal{Root: true, Account: acct}, Action: authIngr}, RootAllowed},
		{"root cannot assume", Set{}, &Request{Principal: Principal{Root: true, Account: acct}, Action: "sts:AssumeRole"}, RootAssumeRole},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Compile(tt.set).Evaluate(tt.req)
			if d.Reason != tt.want || d.Allowed != (tt.want == Allowed || tt.want == AlwaysAllowed || tt.want == RootAllowed) {
				t.Errorf("decision %+v, want reason %d", d, tt.want)
			}
			if tt.want.Explicit() && (d.Statement == nil || !d.Statement.Deny) {
				t.Errorf("explicit deny without its statement: %+v", d)
			}
		})
	}
}

// TestTrust runs §8.2's assume-role set-up: the sg-admin trust policy names the account with
// a path condition, so alice needs an identity allow too; bob is refused by the trust policy.
func TestTrust(t *testing.T) {
	roleARN := "arn:aws:iam::111122223333:role/sg-admin"
	trust := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},
		"Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/ops/*"}}}}`, Trust)
	byName := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/ops/alice"]},"Action":"sts:AssumeRole"}}`, Trust)
	denyBob := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},
		{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/ops/alice"},"Action":"sts:*"}]}`, Trust)
	ops := mustParse(t, stmtDoc(`{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}`,
		`{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"`+roleARN+`"}`), Identity)
	user := func(arn string, trust *Policy) *Request {
		ctx := (&Context{}).Set(KeyPrincipalARN, arn)
		return &Request{Principal: Principal{ARN: arn, Account: acct}, Action: "sts:AssumeRole",
			Resources: []Resource{{ARN: roleARN}}, Context: ctx, Trust: trust}
	}
	bobARN := "arn:aws:iam::111122223333:user/bob"
	withOps := Compile(Set{Identity: []NamedPolicy{{Name: "ops", Policy: ops}}})
	none := Compile(Set{})
	tests := []struct {
		name string
		c    *Compiled
		req  *Request
		want Reason
	}{
		{"alice with ops policy", withOps, user(aliceARN, trust), Allowed},
		{"alice without identity allow", none, user(aliceARN, trust), NoIdentityAllow},
		{"bob fails the trust condition", withOps, user(bobARN, trust), NoResourceAllow},
		{"named principal needs no identity policy", none, user(aliceARN, byName), Allowed},
		{"named principal is not bob", none, user(bobARN, byName), NoResourceAllow},
		{"NotPrincipal deny hits bob", withOps, user(bobARN, denyBob), ExplicitDenyResource},
		{"NotPrincipal deny spares alice", withOps, user(aliceARN, denyBob), Allowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.c.Evaluate(tt.req)
			if d.Reason != tt.want || d.Allowed != (tt.want == Allowed) {
				t.Fatalf("decision %+v, want %d", d, tt.want)
			}
		})
	}
	d := withOps.Evaluate(user(bobARN, trust))
	want := "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: sts:AssumeRole on resource: " + roleARN
	if got := d.Message(bobARN, "sts:AssumeRole"); got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

func TestExplainListsMatches(t *testing.T) {
	c := compileAlice(t, strings.Replace(devIngress, `"Resource": "*"}]`, `"Resource": "*"}, `+mfaDeny+`]`, 1))
	d, tr := c.Explain(aliceRequest("ec2:DescribeSecurityGroups", "10.1.2.3"))
	if d.Allowed || len(tr.Matched) != 2 {
		t.Fatalf("decision %+v, trace %+v: want a deny with the Read allow and the MFA deny", d, tr)
	}
	if d.Statement.Index != 2 || !d.Statement.Deny {
		t.Errorf("deciding statement %+v, want index 2", d.Statement)
	}
}
