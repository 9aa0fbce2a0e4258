package authz

import (
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/iampolicy"
)

// TestPrincipalContext: the keys of §6.5 for root, a user and a role session (with a
// session tag), as a policy's conditions see them.
func TestPrincipalContext(t *testing.T) {
	w := newWorld(t)
	acct := w.root.ID
	resolve := func(akid, token string) iam.Principal {
		p, _, err := w.a.Resolve(akid, token)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	sess := w.assume(w.alice, url.Values{"Tags.member.1.Key": {"team"}, "Tags.member.1.Value": {"net"}})
	issued := w.now.Format(time.RFC3339)
	keys := []string{iampolicy.KeyPrincipalARN, iampolicy.KeyPrincipalType, iampolicy.KeyUsername,
		iampolicy.KeyMultiFactorAuth, iampolicy.KeyTokenIssueTime, iampolicy.KeyPrincipalTagPrefix + "Team",
		iampolicy.KeySourceIP, iampolicy.KeyRequestedRegion, iampolicy.KeySecureTransport}
	info := &Info{SourceIP: "10.1.2.3", Region: "eu-west-1", Time: w.now}
	tests := []struct {
		name string
		p    iam.Principal
		want map[string][]string
	}{
		{"root", resolve(w.root.AccessKeyID, ""), map[string][]string{
			iampolicy.KeyPrincipalARN: {"arn:aws:iam::" + acct + ":root"}, iampolicy.KeyPrincipalType: {"Account"}}},
		{"user", resolve(w.alice.AccessKeyID, ""), map[string][]string{
			iampolicy.KeyPrincipalARN: {"arn:aws:iam::" + acct + ":user/ops/alice"}, iampolicy.KeyPrincipalType: {"User"},
			iampolicy.KeyUsername: {"alice"}}},
		{"session", resolve(sess.AccessKeyID, sess.SessionToken), map[string][]string{
			iampolicy.KeyPrincipalARN: {w.roleARN}, iampolicy.KeyPrincipalType: {"AssumedRole"},
			iampolicy.KeyMultiFactorAuth: {"false"}, iampolicy.KeyTokenIssueTime: {issued},
			iampolicy.KeyPrincipalTagPrefix + "Team": {"net"}}},
	}
	for _, tt := range tests {
		c := PrincipalContext(tt.p, info)
		got := map[string][]string{}
		for _, k := range keys {
			if v, ok := c.Values(k); ok {
				got[k] = v
			}
		}
		tt.want[iampolicy.KeySourceIP] = []string{"10.1.2.3"}
		tt.want[iampolicy.KeyRequestedRegion] = []string{"eu-west-1"}
		tt.want[iampolicy.KeySecureTransport] = []string{"false"}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, d)
		}
	}
}
