package flows

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
)

// A custom format with flow-direction and tcp-flags, as Stockade's README flow log uses.
const custom = "interface-id flow-direction srcaddr dstaddr srcport dstport protocol tcp-flags packets bytes start end action log-status"

func ruleIDs(refs []policy.RuleRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.RuleID)
	}
	return out
}

// TestAttribution: every opening ACCEPT record is attributed to exactly the rules of its
// interface that admit it, and each of those rules is one the engine agrees admits it: its
// opening admits the flow and its peer holds the remote address.
func TestAttribution(t *testing.T) {
	tests := []struct {
		name, line string
		want       []string
	}{
		{"ssh from the office", "eni-web ingress 192.0.2.5 10.0.1.10 50000 22 6 2 3 180 100 110 ACCEPT OK", []string{"sgr-ssh-office"}},
		{"ssh from the vpn", "eni-web ingress 10.8.0.7 10.0.1.10 50000 22 6 2 3 180 100 110 ACCEPT OK", []string{"sgr-ssh-vpn"}},
		{"https from anywhere", "eni-web ingress 198.51.100.9 10.0.1.10 50001 443 6 3 9 900 100 110 ACCEPT OK", []string{"sgr-https"}},
		{"web to db, egress by group reference", "eni-web egress 10.0.1.10 10.0.2.20 40000 5432 6 2 4 300 100 110 ACCEPT OK", []string{"sgr-web-db"}},
		{"web to db, ingress by group reference", "eni-db ingress 10.0.1.10 10.0.2.20 40000 5432 6 2 4 300 100 110 ACCEPT OK", []string{"sgr-db-web"}},
		{"db out to the internet", "eni-db egress 10.0.2.20 203.0.113.1 41000 443 6 2 4 300 100 110 ACCEPT OK", []string{"sgr-db-out"}},
		{"dns, a rule of the second group", "eni-web ingress 198.51.100.9 10.0.1.10 5353 53 17 0 1 60 100 110 ACCEPT OK", []string{"sgr-dns"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := data(t, records(t, custom, tt.line))
			r := d.Select(Period{})[0]
			refs := d.Admitting(&r)
			if diff := cmp.Diff(tt.want, ruleIDs(refs)); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			p := d.Timeline.Current().Policy
			remote := r.PktSrc
			if r.Dir == Egress {
				remote = r.PktDst
			}
			for _, ref := range refs {
				g := slices.IndexFunc(d.Timeline.Current().Snapshot.Groups, func(g *model.Group) bool { return g.ID == ref.GroupID })
				grp := d.Timeline.Current().Snapshot.Groups[g]
				i := grp.FindRule(r.Dir == Egress, ref.RuleID)
				rule := &grp.Rules(r.Dir == Egress)[i]
				if !policy.OpeningOf(rule).Admits(flowOf(&r)) || !p.PeerSet(rule).Contains(remote) {
					t.Errorf("%s attributed, but the engine's matcher does not admit %v", ref.RuleID, flowOf(&r))
				}
			}
		})
	}
}

// The mistakes of AWS's stale-rules sample (§A5.1), each a test.

// TestAttributionPeerCIDRNotIgnored: ssh from the office is not the VPN rule's use, although
// both open tcp/22 on the same interface.
func TestAttributionPeerCIDRNotIgnored(t *testing.T) {
	d := data(t, records(t, custom, "eni-web ingress 192.0.2.5 10.0.1.10 50000 22 6 2 3 180 100 110 ACCEPT OK"))
	use := byID(d.Rules(Period{}))
	if use["sgr-ssh-office"].Status != "used" || use["sgr-ssh-vpn"].Status != "unused" {
		t.Errorf("office %s, vpn %s; want used, unused", use["sgr-ssh-office"].Status, use["sgr-ssh-vpn"].Status)
	}
}

// TestAttributionEveryGroup: a rule of the interface's first group is used, not only the
// last group's.
func TestAttributionEveryGroup(t *testing.T) {
	d := data(t, records(t, custom,
		"eni-web ingress 198.51.100.9 10.0.1.10 50001 443 6 2 9 900 100 110 ACCEPT OK",
		"eni-web ingress 198.51.100.9 10.0.1.10 5353 53 17 0 1 60 100 110 ACCEPT OK"))
	use := byID(d.Rules(Period{}))
	if use["sgr-https"].Status != "used" || use["sgr-dns"].Status != "used" {
		t.Errorf("https (sg-web, first) %s, dns (sg-extra, last) %s; want both used", use["sgr-https"].Status, use["sgr-dns"].Status)
	}
}

// TestAttributionUDPIs17: UDP is protocol 17; a record of protocol 27 (RDP, the sample's
// UDP) to port 53 is no use of the UDP rule.
func TestAttributionUDPIs17(t *testing.T) {
	d := data(t, records(t, custom, "eni-web ingress 198.51.100.9 10.0.1.10 0 53 27 0 1 60 100 110 ACCEPT OK"))
	if u := byID(d.Rules(Period{}))["sgr-dns"]; u.Status != "unused" {
		t.Errorf("protocol 27 counted for the UDP rule: %+v", u)
	}
	d = data(t, records(t, custom, "eni-web ingress 198.51.100.9 10.0.1.10 5353 53 17 0 1 60 100 110 ACCEPT OK"))
	if u := byID(d.Rules(Period{}))["sgr-dns"]; u.Status != "used" {
		t.Errorf("protocol 17 not counted for the UDP rule: %+v", u)
	}
}

func byID(us []RuleUse) map[string]RuleUse {
	m := map[string]RuleUse{}
	for _, u := range us {
		m[u.RuleID] = u
	}
	return m
}

// TestRepliesNeverCount: the reply of an admitted connection passes by statefulness; the
// rules its direction would match (sgr-db-out admits anything leaving db) are not used by it.
func TestRepliesNeverCount(t *testing.T) {
	tests := map[string][]string{
		"with tcp-flags": {custom,
			"eni-db ingress 10.0.1.10 10.0.2.20 40000 5432 6 3 4 300 100 110 ACCEPT OK",
			"eni-db egress 10.0.2.20 10.0.1.10 5432 40000 6 19 4 300 100 110 ACCEPT OK"},
		"default format, by ports": {v2,
			"2 111122223333 eni-db 10.0.1.10 10.0.2.20 40000 5432 6 4 300 100 110 ACCEPT OK",
			"2 111122223333 eni-db 10.0.2.20 10.0.1.10 5432 40000 6 4 300 100 110 ACCEPT OK"},
	}
	for name, lines := range tests {
		t.Run(name, func(t *testing.T) {
			use := byID(data(t, records(t, lines...)).Rules(Period{}))
			if use["sgr-db-web"].Flows != 1 || use["sgr-db-out"].Status != "unused" {
				t.Errorf("db-web %+v, db-out %+v; want one flow, unused", use["sgr-db-web"], use["sgr-db-out"])
			}
		})
	}
}

// TestRulesUnusedUnknown: over a period, rules of logged interfaces without flows are
// unused; a group on no logged interface is unknown; records outside the period do not count.
func TestRulesUnusedUnknown(t *testing.T) {
	d := data(t, records(t, custom,
		"eni-web ingress 192.0.2.5 10.0.1.10 50000 22 6 2 3 180 100 110 ACCEPT OK",
		"eni-web ingress 198.51.100.9 10.0.1.10 50001 443 6 2 9 900 5000 5010 ACCEPT OK"))
	got := map[string]string{}
	for _, u := range d.Rules(Period{Until: time.Unix(1000, 0)}) {
		got[u.RuleID] = u.Status
	}
	want := map[string]string{
		"sgr-ssh-office": "used", "sgr-ssh-vpn": "unused", "sgr-https": "unused", "sgr-web-db": "unused", "sgr-dns": "unused",
		// eni-db has neither records nor a flow log: nothing can be said of sg-db.
		"sgr-db-web": "unknown", "sgr-db-mysql": "unknown", "sgr-db-out": "unknown",
		"sgr-lonely": "unknown",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	// A flow log of accepted traffic on the VPC covers eni-db: its rules become unused; a
	// REJECT-only log says nothing of use.
	d.FlowLogs = []*model.FlowLog{{ID: "fl-1", ResourceID: "vpc-1", TrafficType: "REJECT"}}
	if u := byID(d.Rules(Period{}))["sgr-db-web"]; u.Status != "unknown" {
		t.Errorf("REJECT-only log: sgr-db-web %s, want unknown", u.Status)
	}
	d.FlowLogs[0].TrafficType = "ALL"
	if u := byID(d.Rules(Period{}))["sgr-db-web"]; u.Status != "unused" {
		t.Errorf("ALL log: sgr-db-web %s, want unused", u.Status)
	}
}

// TestRulesUsePolicyInForce: a flow is explained by the revision in force when it started.
// The office rule was added at t=1000 and the VPN rule removed then; ssh from the VPN
// before 1000 is the VPN rule's use, and ssh from the office after it the office rule's.
func TestRulesUsePolicyInForce(t *testing.T) {
	cur := fixture()
	vpn := model.Rule{ID: "sgr-ssh-vpn-old", Protocol: "tcp", FromPort: 22, ToPort: 22, Peer: model.Peer{CIDR: mustPrefix("10.9.0.0/24")}}
	office := cur.Groups[0].Ingress[0]
	tl, err := Rewind(cur, []RuleChange{
		{Time: time.Unix(1000, 0), GroupID: "sg-web", Added: true, Rule: office},
		{Time: time.Unix(1000, 0), GroupID: "sg-web", Added: false, Rule: vpn},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := &Data{Timeline: tl, Records: records(t, custom,
		"eni-web ingress 10.9.0.7 10.0.1.10 50000 22 6 2 3 180 500 510 ACCEPT OK",
		"eni-web ingress 192.0.2.5 10.0.1.10 50000 22 6 2 3 180 500 510 ACCEPT OK",
		"eni-web ingress 192.0.2.6 10.0.1.10 50000 22 6 2 3 180 1500 1510 ACCEPT OK")}
	recs := d.Select(Period{})
	var got [][]string
	for i := range recs {
		got = append(got, ruleIDs(d.Admitting(&recs[i])))
	}
	want := [][]string{{"sgr-ssh-vpn-old"}, nil, {"sgr-ssh-office"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attribution per revision (-want +got):\n%s", diff)
	}
	if u := byID(d.Rules(Period{}))["sgr-ssh-office"]; u.Flows != 1 {
		t.Errorf("office rule: %d flows, want 1 (the one before it existed is not its)", u.Flows)
	}
	// The two changes made at 1000 are one revision: the network before them, and today's.
	if n := tl.revisions(); n != 2 || tl.At(time.Unix(0, 0)).Snapshot.Groups[0].FindRule(false, "sgr-ssh-office") >= 0 ||
		tl.At(time.Unix(0, 0)).Snapshot.Groups[0].FindRule(false, "sgr-ssh-vpn-old") < 0 || tl.At(time.Unix(1000, 0)) != tl.Current() {
		t.Errorf("rewound timeline wrong: %d revisions", n)
	}
	if fixture().Groups[0].FindRule(false, "sgr-ssh-vpn-old") >= 0 || cur.Groups[0].FindRule(false, "sgr-ssh-office") < 0 {
		t.Error("Rewind changed the current snapshot")
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// TestConnectionAcrossWindowsIsOneFlow: with tcp-flags, only the window with the opening SYN
// counts; the later windows of the same connection (FIN, or no reported flag) do not.
func TestConnectionAcrossWindowsIsOneFlow(t *testing.T) {
	d := data(t, records(t, custom,
		"eni-db ingress 10.0.1.10 10.0.2.20 40000 5432 6 2 4 300 100 159 ACCEPT OK",
		"eni-db ingress 10.0.1.10 10.0.2.20 40000 5432 6 0 40 3000 160 219 ACCEPT OK",
		"eni-db ingress 10.0.1.10 10.0.2.20 40000 5432 6 1 2 100 220 230 ACCEPT OK"))
	if u := byID(d.Rules(Period{}))["sgr-db-web"]; u.Flows != 1 {
		t.Errorf("sgr-db-web: %d flows, want 1", u.Flows)
	}
}

// TestRetransmittedSYNIsOneFlow: a SYN retransmitted into the next window is the same flow.
func TestRetransmittedSYNIsOneFlow(t *testing.T) {
	d := data(t, records(t, custom,
		"eni-db egress 10.0.2.20 10.0.1.10 46136 8080 6 2 1 60 100 100 ACCEPT OK",
		"eni-db egress 10.0.2.20 10.0.1.10 46136 8080 6 2 1 60 101 101 ACCEPT OK"))
	if u := byID(d.Rules(Period{}))["sgr-db-out"]; u.Flows != 1 || u.Packets != 2 {
		t.Errorf("sgr-db-out: %d flows, %d packets; want 1, 2", u.Flows, u.Packets)
	}
}
