package iampolicy

import (
	"errors"
	"testing"
)

func TestParseValidation(t *testing.T) {
	const okStmt = `{"Effect":"Allow","Action":"ec2:*","Resource":"*"}`
	tests := []struct {
		name string
		kind Kind
		doc  string
		want string // MalformedPolicyDocument message; "" = valid
	}{
		{"valid list", Identity, `{"Version":"2012-10-17","Statement":[` + okStmt + `]}`, ""},
		{"valid object", Identity, `{"Version":"2012-10-17","Statement":` + okStmt + `}`, ""},
		{"2008 version", Identity, `{"Version":"2008-10-17","Statement":` + okStmt + `}`, ""},
		{"id and sid", Identity, `{"Version":"2012-10-17","Id":"x","Statement":{"Sid":"a","Effect":"Deny","NotAction":"iam:*","NotResource":["arn:aws:ec2:*:*:vpc/*"]}}`, ""},
		{"not json", Identity, `{"Version":`, msgSyntax},
		{"trailing data", Identity, `{"Version":"2012-10-17","Statement":` + okStmt + `} x`, msgSyntax},
		{"array document", Identity, `[]`, msgSyntax},
		{"unknown top key", Identity, `{"Version":"2012-10-17","Foo":1,"Statement":` + okStmt + `}`, msgSyntax},
		{"bad version", Identity, `{"Version":"2012-10-18","Statement":` + okStmt + `}`, msgSyntax},
		{"no statement", Identity, `{"Version":"2012-10-17"}`, msgSyntax},
		{"empty statement list", Identity, `{"Version":"2012-10-17","Statement":[]}`, msgSyntax},
		{"unknown statement key", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*","Foo":1}}`, msgSyntax},
		{"action and notaction", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","NotAction":"s3:*","Resource":"*"}}`, msgSyntax},
		{"no action", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}`, msgNoActions},
		{"empty action list", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}`, msgNoActions},
		{"resource and notresource", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*","NotResource":"*"}}`, msgSyntax},
		{"no resource", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*"}}`, msgNoResources},
		{"effect case", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"allow","Action":"ec2:*","Resource":"*"}}`, msgLegacy},
		{"effect unknown", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Permit","Action":"ec2:*","Resource":"*"}}`, msgSyntax},
		{"duplicate sid", Identity, `{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Action":"ec2:*","Resource":"*"},{"Sid":"a","Effect":"Deny","Action":"ec2:*","Resource":"*"}]}`, msgSidUnique},
		{"empty sids repeat", Identity, `{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","Action":"ec2:*","Resource":"*"},{"Sid":"","Effect":"Deny","Action":"ec2:*","Resource":"*"}]}`, ""},
		{"action without vendor", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"DescribeVpcs","Resource":"*"}}`, msgVendor},
		{"action with two colons", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:a:b","Resource":"*"}}`, msgOneColon},
		{"bad vendor", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"e c2:X","Resource":"*"}}`, "Vendor e c2 is not valid"},
		{"action not a string", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":5,"Resource":"*"}}`, msgSyntax},
		{"resource not an arn", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"sg-1"}}`, `Resource sg-1 must be in ARN format or "*".`},
		{"resource bad partition", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"arn:aws-cn:ec2:r:a:vpc/x"}}`, `Partition "aws-cn" is not valid for resource "arn:aws-cn:ec2:r:a:vpc/x".`},
		{"resource wildcard vendor", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"arn:aws:*:r:a:vpc/x"}}`, msgResourceVendor},
		{"principal in identity policy", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"ec2:*","Resource":"*"}}`, msgPrincipal},
		{"unknown operator", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"StringEqualz":{"aws:username":"a"}}}}`, msgSyntax},
		{"null if exists", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"NullIfExists":{"aws:username":"true"}}}}`, msgSyntax},
		{"condition key without vendor", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"StringEquals":{"username":"a"}}}}`, msgVendor},
		{"condition value object", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"StringEquals":{"aws:username":{"a":1}}}}}`, msgSyntax},
		{"condition values mixed", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"ForAnyValue:StringLikeIfExists":{"aws:TagKeys":["a",1,true]}}}}`, ""},
		{"trust ok", Trust, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}}`, ""},
		{"trust with resource", Trust, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole","Resource":"*"}}`, msgTrustResource},
		{"trust without principal", Trust, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}`, msgTrustPrincipal},
		{"trust bad principal type", Trust, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Bogus":"x"},"Action":"sts:AssumeRole"}}`, msgTrustPrincipal},
		{"trust ec2 action", Trust, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances"}}`, msgTrustAction},
		{"trust tag session", Trust, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), tt.kind)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("error %v, want MalformedError %q", err, tt.want)
			}
			if me.Message != tt.want {
				t.Errorf("message %q, want %q", me.Message, tt.want)
			}
		})
	}
}

func TestWildMatch(t *testing.T) {
	tests := []struct {
		p, s string
		fold bool
		want bool
	}{
		{"*", "", false, true},
		{"ec2:Describe*", "ec2:DescribeVpcs", false, true},
		{"ec2:describe*", "EC2:DescribeVpcs", true, true},
		{"ec2:describe*", "EC2:DescribeVpcs", false, false},
		{"ec2:*SecurityGroup*", "ec2:AuthorizeSecurityGroupIngress", false, true},
		{"ec2:?escribeVpcs", "ec2:DescribeVpcs", false, true},
		{"a?c", "ac", false, false},
		{"a?c", "aéc", false, true},
		{"a*b*c", "aXbYbZc", false, true},
		{"a*b*c", "aXbYbZ", false, false},
		{"\x01", "*", false, true},
		{"\x01", "x", false, false},
		{"\x02", "?", false, true},
	}
	for _, tt := range tests {
		if got := wildMatch(tt.p, tt.s, tt.fold); got != tt.want {
			t.Errorf("wildMatch(%q, %q, %v) = %v", tt.p, tt.s, tt.fold, got)
		}
	}
}

func TestARNMatch(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"*", "*", true},
		{"*", "arn:aws:ec2:eu-west-1:1:vpc/v", true},
		{"arn:aws:ec2:*:*:security-group/*", "*", false},
		{"arn:aws:ec2:*:1:security-group/*", "arn:aws:ec2:eu-west-1:1:security-group/sg-1", true},
		{"arn:aws:ec2:*:1:security-group/*", "arn:aws:ec2:eu-west-1:2:security-group/sg-1", false},
		// '*' does not span segments
		{"arn:aws:ec2:*:security-group/*", "arn:aws:ec2:eu-west-1:1:security-group/sg-1", false},
		// an empty segment matches only an empty one
		{"arn:aws:iam::1:user/*", "arn:aws:iam::1:user/ops/alice", true},
		{"arn:aws:iam::1:user/*", "arn:aws:iam:us-east-1:1:user/ops/alice", false},
		// the resource segment keeps its colons
		{"arn:aws:logs:r:1:log-group:*", "arn:aws:logs:r:1:log-group:g:log-stream:s", true},
		{"arn:aws:ec2:r:1:instance/I-1", "arn:aws:ec2:r:1:instance/i-1", false},
	}
	for _, tt := range tests {
		if got := arnMatch(tt.p, tt.s); got != tt.want {
			t.Errorf("arnMatch(%q, %q) = %v", tt.p, tt.s, got)
		}
	}
}

// TestARNPatternAgreesWithArnMatch: a Resource compiled once (arnPattern, against a value
// split once) decides as arnMatch does on the raw strings, for the generator's patterns and
// values and for the segment shapes the compiler tells apart (exact, '*' only, prefix,
// other wildcards, escaped wildcards, missing segments, values that are not ARNs).
func TestARNPatternAgreesWithArnMatch(t *testing.T) {
	patterns := append([]string{"", "arn", "arn:aws:ec2:r:1", "arn:aws:ec2:r:1:", "arn:aws:ec2:**:1:sg/x**",
		"arn:aws:ec2:r?:1:sg/*x", "arn:aws:s3:::b/\x01", "arn:aws:s3:::b/\x01*", "arn:aws:s3:::b/\x02?", "arn:*:*:*:*:*"},
		genResourcePatterns...)
	values := append([]string{"*", "", "arn:aws:ec2:r:1", "arn:aws:ec2:r:1:", "arn:aws:ec2:rr:1:sg/xyz", "arn:aws:ec2:r1:1:sg/ax",
		"arn:aws:s3:::b/*", "arn:aws:s3:::b/*tail", "arn:aws:s3:::b/?", "arn:aws:s3:::b/x", "arn:aws:ec2:eu-west-1:111122223333"},
		genResourceARNs...)
	for _, raw := range patterns {
		static, tmpl := compileText(raw, true)
		if tmpl != nil {
			continue // templates render per request and go through arnMatchValue
		}
		p := compileARN(static)
		for _, s := range values {
			v := splitValue(s)
			if got, want := p.match(&v), arnMatch(static, s); got != want {
				t.Errorf("compiled %q on %q = %v, arnMatch says %v", raw, s, got, want)
			}
		}
	}
}
