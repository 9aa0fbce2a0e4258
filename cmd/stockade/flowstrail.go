package main

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/stockade/stockade/audit"
	"github.com/stockade/stockade/datadir"
	"github.com/stockade/stockade/flows"
	"github.com/stockade/stockade/model"
)

// The live `stockade flows` explains each record with the policy in force when it started:
// the current network rewound (flows.Rewind) over the security-group rule changes the
// server's change trail recorded since the period's first record. The trail reaches the
// command two ways, both without writing to the server's files: the admin API's State
// carries the last day's rule-change records (the continuous audit's MON-003 reads them),
// and the server exports every record, a minute behind, as CloudTrail log files under
// <data-dir>/trail (written atomically, so reading them beside the server is safe). Records
// in both are the same event (at-least-once export): they count once, by eventID.

// trailChanges reads the rule changes of account and region made from `from` on. recent are
// the State's records (nil: the server runs without its trail, and nothing can be rewound).
// notes tell what could not be rewound.
func trailChanges(dataDir, account, region string, recent []json.RawMessage, from time.Time) (changes []flows.RuleChange, notes []string, err error) {
	if recent == nil {
		return nil, []string{"the server runs without its change trail (--trail=false): every record is explained with the current rules"}, nil
	}
	// The period's changes; when one of them modifies a rule added before the period, its
	// earlier form is in an older record: the whole export is read then (once), and the
	// older changes serve only to know the forms.
	for _, since := range []time.Time{from, {}} {
		older, err := exportedRuleChanges(filepath.Join(dataDir, datadir.Trail), account, region, since)
		if err != nil {
			return nil, nil, err
		}
		records, err := mergeTrail(since, older, recent)
		if err != nil {
			return nil, nil, err
		}
		if changes, notes, err = ruleChangesOf(records); err != nil || len(notes) == 0 {
			break
		}
	}
	changes = slices.DeleteFunc(changes, func(c flows.RuleChange) bool { return c.Time.Before(from.Truncate(time.Second)) })
	return changes, notes, err
}

// trailHead is what the merge and the revokes read of a record.
type trailHead struct {
	EventTime        string `json:"eventTime"`
	EventName        string `json:"eventName"`
	EventID          string `json:"eventID"`
	ErrorCode        string `json:"errorCode"`
	ResponseElements struct {
		Revoked struct {
			Items []revokedRule `json:"items"`
		} `json:"revokedSecurityGroupRuleSet"`
	} `json:"responseElements"`
}

// revokedRule is an item of a revoke's revokedSecurityGroupRuleSet: the whole rule as it was,
// whichever form (rule IDs or permissions) the request took.
type revokedRule struct {
	GroupID    string `json:"groupId"`
	RuleID     string `json:"securityGroupRuleId"`
	Egress     bool   `json:"isEgress"`
	Protocol   string `json:"ipProtocol"`
	FromPort   int32  `json:"fromPort"`
	ToPort     int32  `json:"toPort"`
	V4         string `json:"cidrIpv4"`
	V6         string `json:"cidrIpv6"`
	PrefixList string `json:"prefixListId"`
	Group      string `json:"referencedGroupId"`
}

func (r revokedRule) rule() (model.Rule, error) {
	proto, err := model.NormalizeProtocol(r.Protocol)
	if err != nil {
		return model.Rule{}, fmt.Errorf("revoked rule %s: %w", r.RuleID, err)
	}
	out := model.Rule{ID: r.RuleID, Egress: r.Egress, Protocol: proto, FromPort: r.FromPort, ToPort: r.ToPort,
		Peer: model.Peer{PrefixListID: r.PrefixList, GroupID: r.Group}}
	for _, c := range []string{r.V4, r.V6} {
		if c != "" {
			p, err := netip.ParsePrefix(c)
			if err != nil {
				return model.Rule{}, fmt.Errorf("revoked rule %s: %w", r.RuleID, err)
			}
			out.Peer.CIDR = p.Masked()
		}
	}
	return out, nil
}

// exportedRuleChanges reads the rule-change records of the trail's export under dir: the
// files delivered on from's day or later (a record is delivered after it happened), each
// record of from or later.
func exportedRuleChanges(dir, account, region string, from time.Time) ([]json.RawMessage, error) {
	base := filepath.Join(dir, "AWSLogs", account, "CloudTrail", region)
	var out []json.RawMessage
	first := from.UTC().Format("2006/01/02")
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == base {
			return fs.SkipAll // nothing exported yet
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		rel = filepath.ToSlash(rel)
		if e.IsDir() {
			// YYYY, YYYY/MM, YYYY/MM/DD: skip what ends before from's day.
			if rel != "." && rel < first[:min(len(rel), len(first))] {
				return fs.SkipDir
			}
			return nil
		}
		if path.Ext(p) != ".gz" || len(rel) < len(first) || rel[:len(first)] < first {
			return nil
		}
		recs, err := readTrailFile(p)
		if err != nil {
			return fmt.Errorf("change trail %s: %w", p, err)
		}
		out = append(out, recs...)
		return nil
	})
	return out, err
}

// readTrailFile reads one exported log file: gzip of {"Records": […]}.
func readTrailFile(p string) ([]json.RawMessage, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var f struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.NewDecoder(zr).Decode(&f); err != nil {
		return nil, err
	}
	return f.Records, nil
}

// mergeTrail keeps the successful rule-change records of from or later, each event once,
// oldest first (by eventID within a second, as the trail orders them).
func mergeTrail(from time.Time, sets ...[]json.RawMessage) ([]json.RawMessage, error) {
	type rec struct {
		at  time.Time
		id  string
		raw json.RawMessage
	}
	seen := map[string]bool{}
	var all []rec
	for _, set := range sets {
		for _, raw := range set {
			var h trailHead
			if err := json.Unmarshal(raw, &h); err != nil {
				return nil, fmt.Errorf("change trail: %w", err)
			}
			at, err := time.Parse(time.RFC3339, h.EventTime)
			if err != nil {
				return nil, fmt.Errorf("change trail: event %s: %w", h.EventID, err)
			}
			if seen[h.EventID] || h.ErrorCode != "" || at.Before(from.Truncate(time.Second)) || !slices.Contains(audit.RuleChangeEvents, h.EventName) {
				continue
			}
			seen[h.EventID] = true
			all = append(all, rec{at, h.EventID, raw})
		}
	}
	slices.SortFunc(all, func(a, b rec) int { return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.id, b.id)) })
	out := make([]json.RawMessage, len(all))
	for i, r := range all {
		out[i] = r.raw
	}
	return out, nil
}

// ruleChangesOf turns the records into the changes Rewind undoes. audit.RuleChanges reads
// authorizes (their rules with IDs, from the response) and modifies (the new rule from the
// request, the old one from the record that last added or modified it). A revoke's rules are
// read from its response's revokedSecurityGroupRuleSet, which holds each whole rule whether
// the request named rule IDs or permissions; a record without it (AWS's before that element
// existed) falls back to what audit.RuleChanges knows. What cannot be rewound is said in
// notes and left as it is now: a modify or revoke of a rule added before the trail's first
// record of the period, when the record itself does not hold the old rule.
func ruleChangesOf(records []json.RawMessage) ([]flows.RuleChange, []string, error) {
	cs, err := audit.RuleChanges(records)
	if err != nil {
		return nil, nil, err
	}
	// A revoke's changes are its response's rules, in the record's place in time.
	revokes := map[string][]flows.RuleChange{}
	var order []string
	for _, raw := range records {
		var h trailHead
		if err := json.Unmarshal(raw, &h); err != nil {
			return nil, nil, fmt.Errorf("change trail: %w", err)
		}
		at, _ := time.Parse(time.RFC3339, h.EventTime) // mergeTrail read it
		for _, it := range h.ResponseElements.Revoked.Items {
			r, err := it.rule()
			if err != nil {
				return nil, nil, fmt.Errorf("change trail: event %s: %w", h.EventID, err)
			}
			if revokes[h.EventID] == nil {
				order = append(order, h.EventID)
			}
			revokes[h.EventID] = append(revokes[h.EventID], flows.RuleChange{Time: at, GroupID: it.GroupID, Rule: r})
		}
	}
	var out []flows.RuleChange
	var notes []string
	unknown := map[string]bool{} // eventID/ruleID of a modify whose old rule is not known
	for _, c := range cs {
		if _, ok := revokes[c.EventID]; ok {
			continue // read from the response below
		}
		key := c.EventID + "/" + c.RuleID
		if !c.Added && c.Rule.Protocol == "" { // the removed rule is not in the trail
			unknown[key] = true
			notes = append(notes, fmt.Sprintf("rule %s of %s changed at %s; its earlier form is not in the change trail: flows before then are explained with its later form",
				c.RuleID, c.GroupID, c.Time.UTC().Format(time.RFC3339)))
			continue
		}
		if c.Added && unknown[key] {
			continue // the modify's new form stays: its old one cannot be put back
		}
		out = append(out, flows.RuleChange{Time: c.Time, GroupID: c.GroupID, Added: c.Added, Rule: c.Rule})
	}
	for _, id := range order {
		// Rewind orders the changes by time; within a second, changes of different rules
		// commute, and a rule is revoked only after it was added or modified.
		out = append(out, revokes[id]...)
	}
	return out, notes, nil
}
