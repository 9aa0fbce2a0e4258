package flowlog

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAccepted(t *testing.T) {
	a, b := *ifcA, *ifcB
	a.Unlogged = []netip.Addr{netip.MustParseAddr("10.0.1.1"), netip.MustParseAddr("10.0.0.2")}
	at := func(m map[netip.Addr]*Interface) func(netip.Addr) *Interface {
		return func(x netip.Addr) *Interface { return m[x] }
	}
	both := at(map[netip.Addr]*Interface{a.Primary: &a, b.Primary: &b})
	req := tcp("10.0.1.10", 51000, "10.0.2.20", 80)
	rep := tcp("10.0.2.20", 80, "10.0.1.10", 51000)
	o, r := Counts{6, 400}, Counts{4, 900}
	// Internet client 203.0.113.5 to B's public address 198.51.100.20, translated to B's
	// private one before the router's forward hook: B sees its private address.
	in := tcp("203.0.113.5", 40000, "198.51.100.20", 443)
	inReply := tcp("10.0.2.20", 443, "203.0.113.5", 40000)
	for _, tt := range []struct {
		name       string
		orig, repl Flow
		o, r       Counts
		at         func(netip.Addr) *Interface
		want       []Obs
	}{
		{"both ends monitored", req, rep, o, r, both, []Obs{
			{Iface: "eni-0a", Dir: Egress, Flow: req, Packets: 6, Bytes: 400, First: 100, Last: 160},
			{Iface: "eni-0a", Dir: Ingress, Flow: rep, Packets: 4, Bytes: 900, First: 100, Last: 160},
			{Iface: "eni-0b", Dir: Ingress, Flow: req, Packets: 6, Bytes: 400, First: 100, Last: 160},
			{Iface: "eni-0b", Dir: Egress, Flow: rep, Packets: 4, Bytes: 900, First: 100, Last: 160},
		}},
		{"only the destination monitored, nothing back yet", req, rep, o, Counts{}, at(map[netip.Addr]*Interface{b.Primary: &b}), []Obs{
			{Iface: "eni-0b", Dir: Ingress, Flow: req, Packets: 6, Bytes: 400, First: 100, Last: 160},
		}},
		{"translated inbound", in, inReply, o, r, both, []Obs{
			{Iface: "eni-0b", Dir: Ingress, Flow: tcp("203.0.113.5", 40000, "10.0.2.20", 443), Packets: 6, Bytes: 400, First: 100, Last: 160},
			{Iface: "eni-0b", Dir: Egress, Flow: inReply, Packets: 4, Bytes: 900, First: 100, Last: 160},
		}},
		{"the resolver is never logged", Flow{Proto: 17, Src: a.Primary, Dst: netip.MustParseAddr("10.0.0.2"), SrcPort: 5353, DstPort: 53},
			Flow{Proto: 17, Src: netip.MustParseAddr("10.0.0.2"), Dst: a.Primary, SrcPort: 53, DstPort: 5353}, o, r, both, nil},
		{"the metadata service is never logged", tcp("10.0.1.10", 1234, "169.254.169.254", 80), tcp("169.254.169.254", 80, "10.0.1.10", 1234), o, r, both, nil},
		{"idle since the last dump", req, rep, Counts{}, Counts{}, both, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Accepted(tt.orig, tt.repl, tt.o, tt.r, 100, 160, tt.at)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
