package audit

import (
	"fmt"
	"time"

	"github.com/stockade/stockade/flows"
)

// dormantTag is the tag key that marks a rule kept on purpose although nothing uses it
// (MON-005's "tag as intentionally dormant" [ours: AWS has no such convention]).
const dormantTag = "dormant"

// monUnused is MON-005: each allow rule that admitted no opening flow in the last
// Config.UnusedDays of flow-log records. Flows are attributed by package flows through the
// policy compiler, under the policy in force when each started (the trail's rule changes
// rewind the current network when they are known). A rule whose interfaces have no flow
// log of accepted traffic is not a finding: nothing can be said of it.
func monUnused(a *Audit) []Finding {
	var tl *flows.Timeline
	var err error
	if a.In.Changes != nil {
		changes := make([]flows.RuleChange, 0, len(a.In.Changes))
		for _, c := range a.In.Changes {
			changes = append(changes, flows.RuleChange{Time: c.Time, GroupID: c.GroupID, Added: c.Added, Rule: c.Rule})
		}
		tl, err = flows.Rewind(a.In.Snapshot, changes)
	} else {
		tl, err = flows.Single(a.In.Snapshot)
	}
	if err != nil {
		return nil // the snapshot compiled once already (newAudit); a rewound one cannot fail
	}
	days := a.Config.UnusedDays
	period := flows.Period{Since: a.In.Now.Add(-time.Duration(days) * 24 * time.Hour), Until: a.In.Now}
	d := flows.Data{Records: a.In.FlowRecords, Timeline: tl, FlowLogs: a.In.FlowLogs}
	var out []Finding
	for _, u := range d.Rules(period) {
		if u.Status != "unused" {
			continue
		}
		g := a.Group(u.GroupID)
		if i := g.FindRule(u.Egress, u.RuleID); i >= 0 {
			if _, ok := g.Rules(u.Egress)[i].Tags[dormantTag]; ok {
				continue
			}
		}
		f := a.finding("MON-005", "AWS::EC2::SecurityGroup", u.GroupID)
		f.VpcID = g.VpcID
		f.Rules = []string{u.RuleID}
		dir, verb := "ingress", "revoke-security-group-ingress"
		if u.Egress {
			dir, verb = "egress", "revoke-security-group-egress"
		}
		f.Why = fmt.Sprintf("%s rule %s of %s (%s) admitted no flow in the flow-log records of the %d days since %s",
			dir, u.RuleID, u.GroupID, u.Rule, days, period.Since.UTC().Format(time.RFC3339))
		f.Fix = []string{fmt.Sprintf("aws ec2 %s --group-id %s --security-group-rule-ids %s", verb, u.GroupID, u.RuleID)}
		out = append(out, f)
	}
	return out
}
