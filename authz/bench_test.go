package authz

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/iampolicy"
)

// TestAccountsIsolated: another account's root sees none of the first account's IAM
// entities, and the first account's user keys do not name principals of the other.
func TestAccountsIsolated(t *testing.T) {
	w := newWorld(t)
	other, err := w.a.accounts.Create(context.Background(), "other", false)
	if err != nil {
		t.Fatal(err)
	}
	oc := w.rootCreds()
	oc.AccessKeyID, oc.SecretAccessKey = other.AccessKeyID, other.SecretAccessKey
	status, body := w.call("iam", oc, url.Values{"Action": {"ListUsers"}})
	if status != 200 || strings.Contains(body, "alice") {
		t.Errorf("other account's ListUsers: %d %s", status, body)
	}
	status, body = w.call("iam", oc, url.Values{"Action": {"GetRole"}, "RoleName": {"sg-admin"}})
	if code, _ := errorOf(body); status != 404 || code != "NoSuchEntity" {
		t.Errorf("other account's GetRole: %d %s", status, body)
	}
	p, _, err := w.a.Resolve(w.alice.AccessKeyID, "")
	if err != nil || p.Account != w.root.ID {
		t.Errorf("alice resolves to %+v, %v", p, err)
	}
}

// BenchmarkDecide is the cost of authorizing one EC2 call for a user with ten policies,
// loading and checking them from the IAM service as every call does (issue 14: under 2 µs).
func BenchmarkDecide(b *testing.B) {
	w := newWorld(b)
	ctx := context.Background()
	for i := range 9 { // with the group's own, ten policies
		doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe%d*","Resource":"*"},`+
			`{"Effect":"Allow","Action":"ec2:AuthorizeSecurityGroupIngress","Resource":"arn:aws:ec2:*:*:security-group/sg-%d*",`+
			`"Condition":{"StringEquals":{"aws:ResourceTag/env":"dev"}}}]}`, i, i)
		if err := w.svc.PutPolicy(ctx, w.root.ID, iam.GroupEntity, "ops", fmt.Sprintf("p%d", i), doc); err != nil {
			b.Fatal(err)
		}
	}
	p, _, err := w.a.Resolve(w.alice.AccessKeyID, "")
	if err != nil {
		b.Fatal(err)
	}
	res := &iampolicy.Context{}
	res.SetResourceTags(map[string]string{"env": "dev"})
	req := &iampolicy.Request{Action: "ec2:AuthorizeSecurityGroupIngress",
		Resources: []iampolicy.Resource{{ARN: "arn:aws:ec2:eu-west-1:" + w.root.ID + ":security-group/sg-8abc", Context: res}},
		Context:   PrincipalContext(p, &Info{SourceIP: "10.1.2.3", Region: "eu-west-1"})}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if d, _, err := w.a.Decide(p, req); err != nil || !d.Allowed {
			b.Fatal(d, err)
		}
	}
}
