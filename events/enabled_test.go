package events

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestEnabledPatterns: the patterns of ENABLED and ENABLED_WITH_ALL… rules of the scope, by
// name; not the disabled ones, not another account's; an empty list, not nil, when none.
func TestEnabledPatterns(t *testing.T) {
	st, _ := openStore(t)
	svc, err := Open(context.Background(), st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.EnabledPatterns(tsc); got == nil || len(got) != 0 {
		t.Errorf("no rules: %v, want an empty list", got)
	}
	ctx := context.Background()
	other := Scope{Account: "999999999999", Region: tsc.Region}
	for _, r := range []struct {
		sc                   Scope
		name, pattern, state string
	}{
		{tsc, "b", `{"source":["aws.ec2"]}`, Enabled},
		{tsc, "a", `{"source":["stockade.audit"]}`, EnabledWithReads},
		{tsc, "c", `{"source":["aws.iam"]}`, Disabled},
		{other, "d", `{"source":["aws.sts"]}`, Enabled},
	} {
		if _, err := svc.PutRule(ctx, r.sc, RuleInput{Name: r.name, Pattern: r.pattern, State: r.state}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, p := range svc.EnabledPatterns(tsc) {
		got = append(got, string(p))
	}
	if diff := cmp.Diff([]string{`{"source":["stockade.audit"]}`, `{"source":["aws.ec2"]}`}, got); diff != "" {
		t.Errorf("patterns (-want +got):\n%s", diff)
	}
}
