package audit

import (
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
)

// The SGE family: what a security group lets out (audit-checks §2.1).

func init() {
	register(
		Check{ID: "SGE-001", Title: "Unrestricted egress", Severity: Medium, Run: sge001},
		Check{ID: "SGE-002", Title: "Egress to broad public ranges", Severity: Medium, Run: broadCheck("SGE-002", true)},
	)
}

// sge001: every port of TCP or UDP (or protocol -1) open to the whole internet, one finding
// per group. AWS gives every new group this rule, so the check will find most groups; it is
// meant to be suppressed per tier where the workload needs it (Config.Suppressions).
func sge001(a *Audit) []Finding {
	out := make([]Finding, 0, len(a.In.Snapshot.Groups)) // most groups keep AWS's rule
	for _, g := range a.In.Snapshot.Groups {
		if !a.mayReachInternet(g, true) {
			continue
		}
		var v4, v6 []string
		for _, proto := range []int{model.ProtoNumTCP, model.ProtoNumUDP} {
			x4, x6 := a.Policy.InternetOpen(g.Egress, func(o policy.Opening) bool { return o.AllPortsOf(proto) })
			v4, v6 = union(v4, x4...), union(v6, x6...)
		}
		ids := union(v4, v6...)
		if ids == nil {
			continue
		}
		f := a.groupFinding("SGE-001", g, ids...)
		f.Why = "Group " + g.ID + " lets every port out to " + internet(v4, v6) + " through " + rulesText(g, true, ids) + "."
		f.Fix = []string{revoke(g.ID, true, ids...),
			"# then authorize only the destinations the workload needs: package mirrors, APIs through endpoints or prefix lists, internal groups"}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
