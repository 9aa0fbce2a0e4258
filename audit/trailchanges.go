package audit

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/stockade/stockade/model"
)

// RuleChangeEvents are the trail's event names that add or remove security-group rules: what
// MON-003 reads (RuleChanges).
var RuleChangeEvents = []string{"AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
	"RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "ModifySecurityGroupRules"}

// RuleChanges reads CloudTrail records (trail-iam §1.3 shapes, oldest first) into the rule
// changes MON-003 needs: an authorize adds the rules its responseElements'
// securityGroupRuleSet lists (with their sgr- IDs); a revoke by permissions removes the
// permissions of its requestParameters (ipPermissions, or the legacy scalars), matched later
// by tuple; a revoke by rule IDs removes those IDs, each with the rule an earlier record of
// the list added (unknown when it was added before the list begins: such a removal carries no
// rule and closes nothing); ModifySecurityGroupRules replaces a rule: the old one removed,
// the new one added, under the same ID. Failed calls (errorCode) changed nothing and are
// skipped. Records from a real AWS account read the same way, so an export of the trail could
// feed MON-003 too.
func RuleChanges(records []json.RawMessage) ([]RuleChange, error) {
	return readRuleChanges(records, nil)
}

// FlapChanges reads records as RuleChanges does and returns only the changes MON-003 can
// judge: those of ingress rules from a whole family's addresses (fromEverywhere), exactly
// the ones of RuleChanges' answer that pass that test. MON-005 reads every change; an auditor
// without flow-log records, which skips MON-005, reads these: a day of 10,000 groups given
// 20 rules each is 200,000 changes and 54 MB as RuleChanges returns them, few of which open
// anything to the internet.
func FlapChanges(records []json.RawMessage) ([]RuleChange, error) {
	return readRuleChanges(records, fromEverywhere)
}

// readRuleChanges is RuleChanges keeping only the changes whose rule passes keep (nil: all).
// A rule that is not kept is not remembered either, beside its direction (which a
// ModifySecurityGroupRules keeps): its removal by ID carries no rule, as the removal of a
// rule added before the records begin does, and is not kept.
func readRuleChanges(records []json.RawMessage, keep func(*model.Rule) bool) ([]RuleChange, error) {
	var out []RuleChange
	byID := map[string]RuleChange{} // rule ID → the kept change that last added it
	egressOf := map[string]bool{}   // rule ID → the direction of a rule added and not kept
	kept := func(c *RuleChange) bool { return keep == nil || keep(&c.Rule) }
	for i, raw := range records {
		var rec trailRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			return nil, fmt.Errorf("audit: trail record %d: %w", i+1, err)
		}
		if rec.ErrorCode != "" {
			continue
		}
		at, _ := time.Parse(time.RFC3339, rec.EventTime)
		base := RuleChange{Time: at, EventID: rec.EventID}
		add := func(c RuleChange) {
			c.Added = true
			if !kept(&c) {
				delete(byID, c.RuleID)
				egressOf[c.RuleID] = c.Rule.Egress
				return
			}
			delete(egressOf, c.RuleID)
			byID[c.RuleID] = c
			out = append(out, c)
		}
		remove := func(gid, id string) {
			c := base
			c.GroupID, c.RuleID = gid, id
			if prev, ok := byID[id]; ok {
				c.Rule = prev.Rule
				delete(byID, id)
			}
			delete(egressOf, id)
			if kept(&c) {
				out = append(out, c)
			}
		}
		switch rec.EventName {
		case "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress":
			for _, r := range rec.ResponseElements.RuleSet.Items {
				c := base
				c.GroupID, c.RuleID, c.Rule = r.GroupID, r.RuleID, r.rule()
				add(c)
			}
		case "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress":
			p := rec.RequestParameters
			egress := rec.EventName == "RevokeSecurityGroupEgress"
			for _, id := range p.RuleIDs.Items {
				remove(p.GroupID, id.ID)
			}
			perms := p.Permissions.Items
			if p.Protocol != "" { // the legacy scalar form
				perm := trailPermission{Protocol: p.Protocol, FromPort: p.FromPort, ToPort: p.ToPort}
				if p.CidrIP != "" {
					perm.IPRanges.Items = []trailCIDR{{V4: p.CidrIP}}
				}
				perms = append(perms, perm)
			}
			for _, perm := range perms {
				for _, r := range perm.rules(egress) {
					c := base
					c.GroupID, c.Rule = p.GroupID, r
					if kept(&c) {
						out = append(out, c)
					}
				}
			}
		case "ModifySecurityGroupRules":
			m := rec.RequestParameters.Modify
			for _, u := range m.Rules {
				wasEgress := byID[u.ID].Rule.Egress || egressOf[u.ID] // a modify cannot change the direction
				remove(m.GroupID, u.ID)
				c := base
				c.GroupID, c.RuleID = m.GroupID, u.ID
				c.Rule = u.Rule.rule(wasEgress)
				c.Rule.ID = u.ID
				add(c)
			}
		}
	}
	return out, nil
}

// trailRecord is the part of a CloudTrail record RuleChanges reads.
type trailRecord struct {
	EventTime         string `json:"eventTime"`
	EventName         string `json:"eventName"`
	EventID           string `json:"eventID"`
	ErrorCode         string `json:"errorCode"`
	RequestParameters struct {
		GroupID  string `json:"groupId"`
		Protocol string `json:"ipProtocol"`
		FromPort *int32 `json:"fromPort"`
		ToPort   *int32 `json:"toPort"`
		CidrIP   string `json:"cidrIp"`
		RuleIDs  struct {
			Items []struct {
				ID string `json:"securityGroupRuleId"`
			} `json:"items"`
		} `json:"securityGroupRuleIdSet"`
		Permissions struct {
			Items []trailPermission `json:"items"`
		} `json:"ipPermissions"`
		Modify struct {
			GroupID string    `json:"GroupId"`
			Rules   oneOrMany `json:"SecurityGroupRule"`
		} `json:"ModifySecurityGroupRulesRequest"`
	} `json:"requestParameters"`
	ResponseElements struct {
		RuleSet struct {
			Items []ruleSetItem `json:"items"`
		} `json:"securityGroupRuleSet"`
	} `json:"responseElements"`
}

// ruleSetItem is a rule of securityGroupRuleSet.
type ruleSetItem struct {
	GroupID    string `json:"groupId"`
	RuleID     string `json:"securityGroupRuleId"`
	Egress     bool   `json:"isEgress"`
	Protocol   string `json:"ipProtocol"`
	FromPort   int32  `json:"fromPort"`
	ToPort     int32  `json:"toPort"`
	V4         string `json:"cidrIpv4"`
	V6         string `json:"cidrIpv6"`
	PrefixList string `json:"prefixListId"`
	Referenced struct {
		GroupID string `json:"groupId"`
	} `json:"referencedGroupInfo"`
}

func (r ruleSetItem) rule() model.Rule {
	out := model.Rule{ID: r.RuleID, Egress: r.Egress, Protocol: protocolOf(r.Protocol), FromPort: r.FromPort, ToPort: r.ToPort}
	out.Peer = peerOf(r.V4, r.V6, r.PrefixList, r.Referenced.GroupID)
	return out
}

// trailPermission is an ipPermissions item of a request.
type trailPermission struct {
	Protocol string `json:"ipProtocol"`
	FromPort *int32 `json:"fromPort"`
	ToPort   *int32 `json:"toPort"`
	IPRanges struct {
		Items []trailCIDR `json:"items"`
	} `json:"ipRanges"`
	IPv6Ranges struct {
		Items []trailCIDR `json:"items"`
	} `json:"ipv6Ranges"`
	PrefixLists struct {
		Items []struct {
			ID string `json:"prefixListId"`
		} `json:"items"`
	} `json:"prefixListIds"`
	Groups struct {
		Items []struct {
			ID string `json:"groupId"`
		} `json:"items"`
	} `json:"groups"`
}

type trailCIDR struct {
	V4 string `json:"cidrIp"`
	V6 string `json:"cidrIpv6"`
}

// rules are a trailPermission's rules, one per peer, as EC2 splits them.
func (p trailPermission) rules(egress bool) []model.Rule {
	base := model.Rule{Egress: egress, Protocol: protocolOf(p.Protocol), FromPort: -1, ToPort: -1}
	if p.FromPort != nil {
		base.FromPort = *p.FromPort
	}
	if p.ToPort != nil {
		base.ToPort = *p.ToPort
	}
	var out []model.Rule
	with := func(peer model.Peer) {
		r := base
		r.Peer = peer
		out = append(out, r)
	}
	for _, c := range p.IPRanges.Items {
		with(peerOf(c.V4, "", "", ""))
	}
	for _, c := range p.IPv6Ranges.Items {
		with(peerOf("", c.V6, "", ""))
	}
	for _, pl := range p.PrefixLists.Items {
		with(peerOf("", "", pl.ID, ""))
	}
	for _, g := range p.Groups.Items {
		with(peerOf("", "", "", g.ID))
	}
	return out
}

// modifiedRule is a SecurityGroupRule of ModifySecurityGroupRules' request (PascalCase,
// §1.3 rule 6).
type modifiedRule struct {
	ID   string              `json:"SecurityGroupRuleId"`
	Rule modifiedRuleRequest `json:"SecurityGroupRule"`
}

type modifiedRuleRequest struct {
	Protocol          string `json:"IpProtocol"`
	FromPort          int32  `json:"FromPort"`
	ToPort            int32  `json:"ToPort"`
	V4                string `json:"CidrIpv4"`
	V6                string `json:"CidrIpv6"`
	PrefixListID      string `json:"PrefixListId"`
	ReferencedGroupID string `json:"ReferencedGroupId"`
}

func (r modifiedRuleRequest) rule(egress bool) model.Rule {
	return model.Rule{Egress: egress, Protocol: protocolOf(r.Protocol), FromPort: r.FromPort, ToPort: r.ToPort,
		Peer: peerOf(r.V4, r.V6, r.PrefixListID, r.ReferencedGroupID)}
}

// oneOrMany reads a list that the newer record style writes as a bare object when it has one
// element (§1.3 rule 6).
type oneOrMany []modifiedRule

func (o *oneOrMany) UnmarshalJSON(b []byte) error {
	var many []modifiedRule
	if err := json.Unmarshal(b, &many); err == nil {
		*o = many
		return nil
	}
	var one modifiedRule
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*o = []modifiedRule{one}
	return nil
}

// protocolOf is a record's ipProtocol in the stored form ("6" is "tcp"); an unreadable one is
// kept as written, which no check reads as the internet's.
func protocolOf(s string) string {
	if p, err := model.NormalizeProtocol(s); err == nil {
		return p
	}
	return s
}

func peerOf(v4, v6, pl, group string) model.Peer {
	for _, c := range []string{v4, v6} {
		if p, err := netip.ParsePrefix(c); err == nil {
			return model.Peer{CIDR: p.Masked()}
		}
	}
	return model.Peer{PrefixListID: pl, GroupID: group}
}
