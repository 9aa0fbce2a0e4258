package audit

import (
	"encoding/json"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
)

// goldenRecord reads one of the trail's golden records (§1.3 shapes, as the server writes
// them) with its event ID and time replaced, and the edits applied to it.
func goldenRecord(t *testing.T, name, id string, at time.Time, edits ...func(map[string]any)) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("../trail/testdata/records/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Record map[string]any `json:"record"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc.Record["eventID"], doc.Record["eventTime"] = id, at.UTC().Format(time.RFC3339)
	for _, edit := range edits {
		edit(doc.Record)
	}
	out, _ := json.Marshal(doc.Record)
	return out
}

// ruleChangeRecords are the records TestRuleChanges reads, at minutes 0 to 4 of at: an
// authorize (e-1), a revoke by permissions (e-2), the authorize again (e-3), a modify of its
// rule to 0.0.0.0/0 on 443 (e-4) and a revoke by rule IDs (e-5).
func ruleChangeRecords(t *testing.T, at func(int) time.Time) []json.RawMessage {
	t.Helper()
	return []json.RawMessage{
		goldenRecord(t, "authorize-ip-permissions.json", "e-1", at(0)),
		goldenRecord(t, "revoke-permissions.json", "e-2", at(1)),
		goldenRecord(t, "authorize-ip-permissions.json", "e-3", at(2)),
		goldenRecord(t, "modify-rules-one.json", "e-4", at(3)),
		goldenRecord(t, "revoke-rule-ids.json", "e-5", at(4)),
	}
}

// TestRuleChanges: an authorize adds its response's rules with their IDs; a revoke by
// permissions removes the tuple; a revoke by rule IDs removes the rule the earlier authorize
// added (and one it never saw, without a rule); a modify replaces a rule under its ID; a
// failed call changes nothing.
func TestRuleChanges(t *testing.T) {
	t0 := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	failed := map[string]any{"eventName": "AuthorizeSecurityGroupIngress", "eventTime": at(5).Format(time.RFC3339), "eventID": "e-fail",
		"errorCode": "InvalidPermission.Duplicate", "responseElements": nil}
	failedJSON, _ := json.Marshal(failed)
	recs := append(ruleChangeRecords(t, at), failedJSON)
	got, err := RuleChanges(recs)
	if err != nil {
		t.Fatal(err)
	}
	const sg, id = "sg-0a1b2c3d4e5f60718", "sgr-0c1d2e3f4a5b6c7d8"
	vpn := model.Rule{ID: id, Protocol: "tcp", FromPort: 22, ToPort: 22, Peer: model.Peer{CIDR: netip.MustParsePrefix("10.20.0.0/16")}}
	https := model.Rule{ID: id, Protocol: "tcp", FromPort: 443, ToPort: 443, Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}}
	tuple := vpn
	tuple.ID = ""
	want := []RuleChange{
		{Time: at(0), GroupID: sg, RuleID: id, Added: true, Rule: vpn, EventID: "e-1"},
		{Time: at(1), GroupID: sg, Rule: tuple, EventID: "e-2"},
		{Time: at(2), GroupID: sg, RuleID: id, Added: true, Rule: vpn, EventID: "e-3"},
		{Time: at(3), GroupID: sg, RuleID: id, Rule: vpn, EventID: "e-4"},
		{Time: at(3), GroupID: sg, RuleID: id, Added: true, Rule: https, EventID: "e-4"},
		{Time: at(4), GroupID: sg, RuleID: id, Rule: https, EventID: "e-5"},
		{Time: at(4), GroupID: sg, RuleID: "sgr-0aaaaaaaaaaaaaaa1", EventID: "e-5"},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}

	// The flap the changes describe — /0 on 443 is authorized by default, so with 443 not
	// authorized it is one: opened at 3, closed at 4.
	cfg := DefaultConfig()
	cfg.AuthorizedTCP = []uint16{80}
	a := &Audit{In: Input{Changes: got, Now: at(10)}, Config: cfg}
	if fs := monFlap(a); len(fs) != 1 || fs[0].Resource != sg {
		t.Errorf("MON-003 over the changes = %+v, want one finding on %s", fs, sg)
	}
	if _, err := RuleChanges([]json.RawMessage{json.RawMessage(`{`)}); err == nil {
		t.Error("an unreadable record is not an error")
	}
}

// TestFlapChanges: FlapChanges is RuleChanges' answer without the changes MON-003 cannot
// judge (not an ingress rule from everywhere), also when a rule it did not keep is modified
// (the modified rule keeps its egress direction) or revoked by ID.
func TestFlapChanges(t *testing.T) {
	t0 := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	const out = "sgr-0eeeeeeeeeeeeeee1"
	egress := func(rec map[string]any) { // the authorize's rule, made an egress one with its own ID
		item := rec["responseElements"].(map[string]any)["securityGroupRuleSet"].(map[string]any)["items"].([]any)[0].(map[string]any)
		item["isEgress"], item["securityGroupRuleId"] = true, out
		rec["eventName"] = "AuthorizeSecurityGroupEgress"
	}
	modifyOut := func(rec map[string]any) { // the modify (to 0.0.0.0/0), of that egress rule
		rec["requestParameters"].(map[string]any)["ModifySecurityGroupRulesRequest"].(map[string]any)["SecurityGroupRule"].(map[string]any)["SecurityGroupRuleId"] = out
	}
	revokeOut := func(rec map[string]any) {
		rec["requestParameters"].(map[string]any)["securityGroupRuleIdSet"] = map[string]any{"items": []any{map[string]any{"securityGroupRuleId": out}}}
	}
	recs := append(ruleChangeRecords(t, at),
		goldenRecord(t, "authorize-ip-permissions.json", "e-6", at(5), egress),
		goldenRecord(t, "modify-rules-one.json", "e-7", at(6), modifyOut),
		goldenRecord(t, "revoke-rule-ids.json", "e-8", at(7), revokeOut),
	)
	all, err := RuleChanges(recs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(all, func(c RuleChange) bool {
		return c.RuleID == out && c.Added && c.Rule.Egress && c.Rule.Peer.CIDR.Bits() == 0
	}) {
		t.Fatalf("the egress rule modified to 0.0.0.0/0 is not among the changes: %+v", all)
	}
	want := slices.DeleteFunc(slices.Clone(all), func(c RuleChange) bool { return !fromEverywhere(&c.Rule) })
	if len(want) == 0 || len(want) == len(all) {
		t.Fatalf("%d of %d changes are from everywhere: the records test nothing", len(want), len(all))
	}
	got, err := FlapChanges(recs)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("FlapChanges (-want +got):\n%s", diff)
	}
	if _, err := FlapChanges([]json.RawMessage{json.RawMessage(`{`)}); err == nil {
		t.Error("an unreadable record is not an error")
	}
}
