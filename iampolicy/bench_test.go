package iampolicy

import (
	"fmt"
	"testing"
)

// tenPolicies is a principal with ten policies of three statements each, conditions and a
// policy variable included: the size the §6 target (under 2 µs per call) is stated for.
func tenPolicies(t testing.TB) *Compiled {
	var set Set
	for i := range 10 {
		doc := stmtDoc(
			fmt.Sprintf(`{"Sid":"Read%d","Effect":"Allow","Action":["ec2:Describe*","ec2:Get*"],"Resource":"*"}`, i),
			fmt.Sprintf(`{"Sid":"Tagged%d","Effect":"Allow","Action":"ec2:*SecurityGroup*","Resource":"arn:aws:ec2:*:111122223333:security-group/*",
				"Condition":{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"},"IpAddress":{"aws:SourceIp":["10.%d.0.0/16","192.0.2.0/24"]}}}`, i, i),
			fmt.Sprintf(`{"Sid":"NoProd%d","Effect":"Deny","Action":"ec2:Delete*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/env":"prod"}}}`, i))
		set.Identity = append(set.Identity, NamedPolicy{Name: fmt.Sprint("p", i), Policy: mustParse(t, doc, Identity)})
	}
	return Compile(set)
}

func benchRequest() *Request {
	res := sgResource("sg-0aaa00000000000a1")
	res.Context.Set("aws:ResourceTag/team", "blue")
	r := aliceRequest(authIngr, "192.0.2.7", res)
	r.Context.Set("aws:PrincipalTag/team", "blue")
	return r
}

func TestEvaluateDoesNotAllocate(t *testing.T) {
	c := tenPolicies(t)
	req := benchRequest()
	if d := c.Evaluate(req); !d.Allowed {
		t.Fatalf("benchmark request denied: %+v", d)
	}
	if n := testing.AllocsPerRun(100, func() { c.Evaluate(req) }); n != 0 {
		t.Errorf("Evaluate allocates %v times per call", n)
	}
}

func BenchmarkEvaluateTenPolicies(b *testing.B) {
	c := tenPolicies(b)
	req := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		c.Evaluate(req)
	}
}
