package audit

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stockade/stockade/model"
)

// The monitoring checks (audit-checks §2.1 MON-*): whether changes are alerted on (MON-001/002,
// the enabled alert rules' patterns), whether internet exposure flapped (MON-003, the change
// trail), whether flow logs are on (MON-004), and whether allow rules are used (MON-005, from
// flow-log records: monflows.go).

func init() {
	register(
		Check{ID: "MON-001", Title: "No alerting on security-group changes", Severity: Medium, Needs: []string{"AlertPatterns"}, Run: monSG},
		Check{ID: "MON-002", Title: "No alerting on network-ACL changes", Severity: Medium, Needs: []string{"AlertPatterns"}, Run: monNACL},
		Check{ID: "MON-003", Title: "Rapid open/close (flap) of internet exposure", Severity: High, Needs: []string{"Changes"}, Run: monFlap},
		Check{ID: "MON-004", Title: "Flow logs off", Severity: Medium, Needs: []string{"FlowLogs"}, Run: monFlowLogs},
		Check{ID: "MON-005", Title: "Rule never used", Severity: Info, Needs: []string{"FlowRecords"}, Run: monUnused},
	)
}

// The mutation events CIS 4.10 and 4.11 name (trail-iam §3.3).
var (
	sgEvents = []string{"AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
		"RevokeSecurityGroupEgress", "CreateSecurityGroup", "DeleteSecurityGroup"}
	naclEvents = []string{"CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl", "DeleteNetworkAclEntry",
		"ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation"}
	// sgRuleEdits are the rule edits the CIS list predates; the fix's rule watches them too.
	sgRuleEdits = []string{"ModifySecurityGroupRules", "UpdateSecurityGroupRuleDescriptionsIngress", "UpdateSecurityGroupRuleDescriptionsEgress"}
)

func monSG(a *Audit) []Finding {
	return a.alerting("MON-001", "security-group", sgEvents, slices.Concat(sgEvents, sgRuleEdits), "stockade-security-group-changes")
}

func monNACL(a *Audit) []Finding {
	return a.alerting("MON-002", "network-ACL", naclEvents, naclEvents, "stockade-network-acl-changes")
}

// alerting is MON-001/002: the events no enabled rule's pattern covers. The fix is a rule
// that covers them all, and a target for it (the operator's endpoint).
func (a *Audit) alerting(check, what string, events, watch []string, rule string) []Finding {
	var missing []string
	for _, ev := range events {
		if !slices.ContainsFunc(a.In.AlertPatterns, func(p json.RawMessage) bool { return covers(p, a.In.Account, a.In.Region, ev) }) {
			missing = append(missing, ev)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	f := a.finding(check, "AWS::::Account", a.In.Account)
	f.Why = fmt.Sprintf("no enabled alert rule's event pattern matches every %s call of %s (of %d enabled rules)", what, strings.Join(missing, ", "), len(a.In.AlertPatterns))
	pattern, _ := json.Marshal(map[string]any{"source": []string{"aws.ec2"}, "detail-type": []string{"AWS API Call via CloudTrail"},
		"detail": map[string]any{"eventSource": []string{"ec2.amazonaws.com"}, "eventName": watch}})
	f.Fix = []string{
		fmt.Sprintf("aws events put-rule --name %s --event-pattern '%s' --state ENABLED", rule, pattern),
		fmt.Sprintf("aws events put-targets --rule %s --targets 'Id=1,Arn=<target-arn>'", rule),
	}
	return []Finding{f}
}

// exposing reports whether an ingress rule is one the SGA-001…007 checks report: from the whole
// internet of a family (0.0.0.0/0 or ::/0, canonical whatever the spelling) on something other
// than the authorized ports.
func (a *Audit) exposing(r *model.Rule) bool {
	if !fromEverywhere(r) {
		return false
	}
	proto := model.ProtocolNumber(r.Protocol)
	var authorized []uint16
	switch proto {
	case model.ProtoNumTCP:
		authorized = a.Config.AuthorizedTCP
	case model.ProtoNumUDP:
		authorized = a.Config.AuthorizedUDP
	default:
		return true // every protocol, ICMP, or a port-less protocol from the internet
	}
	for p := int(r.FromPort); p <= int(r.ToPort); p++ {
		if !slices.Contains(authorized, uint16(p)) {
			return true
		}
	}
	return false
}

// fromEverywhere reports whether r is an ingress rule from a whole family's addresses: the
// part of exposing that needs no configuration (what FlapChanges keeps).
func fromEverywhere(r *model.Rule) bool {
	return !r.Egress && r.Peer.CIDR.IsValid() && r.Peer.CIDR.Bits() == 0
}

// ruleKey is a rule's canonical (protocol, ports, peer) tuple: a removal that names no rule ID
// is matched to the addition by it (trail-iam §3.3).
func ruleKey(gid string, r *model.Rule) string {
	return fmt.Sprintf("%s %s %d-%d %s", gid, model.ProtocolName(model.ProtocolNumber(r.Protocol)), r.FromPort, r.ToPort, r.Peer.CIDR.Masked())
}

// flapCycles is how many open/close cycles of one rule within a day are "repeatedly" (the
// spec's default N).
const flapCycles = 3

// monFlap is MON-003 over the changes of the day before the audit: an exposing rule added and
// removed again within Config.FlapWindow, or opened and closed flapCycles times or more (each
// cycle however long). A removal closes the latest open addition with its rule ID, or else
// with its tuple. The finding names both events; nothing in the current state fixes the past,
// so it has no fix commands: investigate, and require change tickets for /0 rules.
func monFlap(a *Audit) []Finding {
	since := a.In.Now.Add(-24 * time.Hour)
	opened := map[string][]RuleChange{} // tuple key → additions still open
	cycles := map[string][][2]RuleChange{}
	var keys []string
	for _, c := range a.In.Changes {
		if c.Time.Before(since) || c.Time.After(a.In.Now) || !a.exposing(&c.Rule) {
			continue
		}
		k := ruleKey(c.GroupID, &c.Rule)
		if c.Added {
			opened[k] = append(opened[k], c)
			continue
		}
		adds := opened[k]
		i := slices.IndexFunc(adds, func(x RuleChange) bool { return c.RuleID != "" && x.RuleID == c.RuleID })
		if i < 0 {
			i = len(adds) - 1
		}
		if i < 0 {
			continue // removed a rule added before the day began
		}
		if len(cycles[k]) == 0 {
			keys = append(keys, k)
		}
		cycles[k] = append(cycles[k], [2]RuleChange{adds[i], c})
		opened[k] = slices.Delete(adds, i, i+1)
	}
	var out []Finding
	for _, k := range keys {
		cs := cycles[k]
		var quick [][2]RuleChange
		for _, c := range cs {
			if c[1].Time.Sub(c[0].Time) <= a.Config.FlapWindow {
				quick = append(quick, c)
			}
		}
		if len(quick) == 0 && len(cs) < flapCycles {
			continue
		}
		first := cs[0]
		f := a.finding("MON-003", "AWS::EC2::SecurityGroup", first[0].GroupID)
		for _, c := range cs {
			for _, id := range []string{c[0].RuleID, c[1].RuleID} {
				if id != "" && !slices.Contains(f.Rules, id) {
					f.Rules = append(f.Rules, id)
				}
			}
		}
		r := first[0].Rule
		what := fmt.Sprintf("%s %s from %s", model.ProtocolName(model.ProtocolNumber(r.Protocol)), ports(&r), r.Peer.CIDR)
		var lines []string
		for _, c := range cs {
			lines = append(lines, fmt.Sprintf("opened %s (event %s), closed %s (event %s) after %s",
				c[0].Time.UTC().Format(time.RFC3339), c[0].EventID, c[1].Time.UTC().Format(time.RFC3339), c[1].EventID, c[1].Time.Sub(c[0].Time)))
		}
		if len(quick) > 0 {
			f.Why = fmt.Sprintf("%s was opened to the internet (%s) and closed again within %s: ", first[0].GroupID, what, a.Config.FlapWindow)
		} else {
			f.Why = fmt.Sprintf("%s was opened to the internet (%s) and closed %d times within a day: ", first[0].GroupID, what, len(cs))
		}
		f.Why += strings.Join(lines, "; ") + ". Investigate as possible attacker activity or unsafe manual debugging; require change tickets for /0 rules"
		out = append(out, f)
	}
	return out
}

func ports(r *model.Rule) string {
	switch {
	case r.Protocol == model.ProtoAll:
		return "all ports"
	case r.FromPort == r.ToPort:
		return fmt.Sprintf("port %d", r.FromPort)
	}
	return fmt.Sprintf("ports %d-%d", r.FromPort, r.ToPort)
}

// monFlowLogs is MON-004: a VPC whose traffic is not logged — no flow log of the VPC that
// records rejected traffic (REJECT or ALL: Security Hub EC2.6's minimum), and not every one of
// its subnets logged by subnet-level or interface-level logs instead.
func monFlowLogs(a *Audit) []Finding {
	logged := map[string]bool{}
	acceptOnly := map[string]bool{}
	for _, fl := range a.In.FlowLogs {
		if fl.TrafficType == "ACCEPT" {
			acceptOnly[fl.ResourceID] = true
			continue
		}
		logged[fl.ResourceID] = true
	}
	var out []Finding
	for _, v := range a.In.Snapshot.VPCs {
		if logged[v.ID] {
			continue
		}
		var bare []string
		for _, sn := range a.In.Snapshot.Subnets {
			if sn.VpcID != v.ID || logged[sn.ID] {
				continue
			}
			covered := true // a subnet whose every interface is logged is covered too
			for _, n := range a.In.Snapshot.ENIs {
				if n.SubnetID == sn.ID && !logged[n.ID] {
					covered = false
				}
			}
			if !covered || !slices.ContainsFunc(a.In.Snapshot.ENIs, func(n *model.NetworkInterface) bool { return n.SubnetID == sn.ID }) {
				bare = append(bare, sn.ID)
			}
		}
		hasSubnets := slices.ContainsFunc(a.In.Snapshot.Subnets, func(s *model.Subnet) bool { return s.VpcID == v.ID })
		if hasSubnets && len(bare) == 0 {
			continue
		}
		f := a.finding("MON-004", "AWS::EC2::VPC", v.ID)
		f.VpcID = v.ID
		f.Why = v.ID + " has no flow log recording rejected traffic"
		if acceptOnly[v.ID] {
			f.Why += " (its flow log records ACCEPT only)"
		}
		if len(bare) > 0 {
			f.Why += "; subnets without one: " + strings.Join(bare, ", ")
		}
		f.Fix = []string{fmt.Sprintf("aws ec2 create-flow-logs --resource-type VPC --resource-ids %s --traffic-type ALL --log-destination-type s3 --log-destination arn:aws:s3:::flow-logs-%s",
			v.ID, a.In.Account)}
		out = append(out, f)
	}
	return out
}
