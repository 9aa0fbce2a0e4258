package audit

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/flows"
	"github.com/stockade/stockade/model"
)

// TestUnusedRules: MON-005 reports each rule of a logged interface that admitted no opening
// flow in the last UnusedDays, not the rules that did, not rules of unlogged interfaces,
// not replies' rules, not dormant-tagged ones; its fix clears it; older records do not
// count; and without records the check is skipped.
func TestUnusedRules(t *testing.T) {
	w := newWorld(t)
	web := w.group("web",
		model.Rule{Protocol: "tcp", FromPort: 443, ToPort: 443, Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}},
		model.Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, Peer: model.Peer{CIDR: netip.MustParsePrefix("192.0.2.0/24")}},
		model.Rule{Protocol: "tcp", FromPort: 8443, ToPort: 8443, Peer: model.Peer{CIDR: netip.MustParsePrefix("192.0.2.0/24")}, Tags: model.Tags{"dormant": "yes"}},
		model.Rule{Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1, Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}})
	dark := w.group("dark", model.Rule{Protocol: "tcp", FromPort: 80, ToPort: 80, Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}})
	webENI := w.eni(0, "10.0.1.10", web)
	w.eni(1, "10.0.2.10", dark)
	in := w.input()
	r, err := Run(in, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if r.Skipped["MON-005"] == "" {
		t.Fatalf("MON-005 ran without records: %v", r.Skipped)
	}
	now := in.Now.Unix()
	rec := func(src, dst string, sport, dport uint16, flags int, start int64) flows.Record {
		s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
		dir := flows.Ingress
		if s == webENI.PrivateIP {
			dir = flows.Egress
		}
		return flows.Record{Interface: webENI.ID, Src: s, Dst: d, PktSrc: s, PktDst: d, SrcPort: sport, DstPort: dport, Proto: 6,
			Packets: 3, Bytes: 200, Start: start, End: start + 10, Action: "ACCEPT", Status: "OK", Dir: dir, Flags: flags}
	}
	in.FlowRecords = []flows.Record{
		rec("198.51.100.7", "10.0.1.10", 50000, 443, 2, now-3600),    // https: used
		rec("10.0.1.10", "198.51.100.7", 443, 50000, 18, now-3600),   // its reply: not the egress rule's use
		rec("192.0.2.9", "10.0.1.10", 50000, 22, 2, now-100*24*3600), // ssh, before the 90 days
	}
	var got []string
	r, err = Run(in, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		if f.Check == "MON-005" {
			got = append(got, f.Rules...)
		}
	}
	want := []string{web.Ingress[1].ID, web.Egress[0].ID}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MON-005 rules (-want +got):\n%s", diff)
	}
	// 120 days see the old ssh flow.
	cfg := DefaultConfig()
	cfg.UnusedDays = 120
	r, _ = Run(in, cfg)
	for _, f := range r.Findings {
		if f.Check == "MON-005" && f.Rules[0] == web.Ingress[1].ID {
			t.Errorf("ssh used 100 days ago reported over 120 days: %s", f.Why)
		}
	}
	// Running the fixes clears the findings.
	r, _ = Run(in, DefaultConfig())
	for _, f := range r.Findings {
		if f.Check == "MON-005" {
			w.apply(f.Fix)
		}
	}
	in.Snapshot = w.s
	r, _ = Run(in, DefaultConfig())
	for _, f := range r.Findings {
		if f.Check == "MON-005" {
			t.Errorf("after the fixes: %s", f.Why)
		}
	}
}
