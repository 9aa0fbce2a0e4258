package flowlog

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// ipv4TCP builds the first bytes of an IPv4 TCP packet.
func ipv4TCP(src, dst string, sport, dport uint16, flags uint8, total uint16) []byte {
	b := make([]byte, 40)
	b[0], b[9] = 0x45, 6
	binary.BigEndian.PutUint16(b[2:], total)
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dport)
	b[20+13] = flags
	return b
}

func TestParsePacket(t *testing.T) {
	v6 := make([]byte, 48)
	v6[0], v6[6] = 0x60, 17
	binary.BigEndian.PutUint16(v6[4:], 20)
	a6, b6 := netip.MustParseAddr("2600::1").As16(), netip.MustParseAddr("2600::2").As16()
	copy(v6[8:], a6[:])
	copy(v6[24:], b6[:])
	binary.BigEndian.PutUint16(v6[40:], 5353)
	binary.BigEndian.PutUint16(v6[42:], 53)
	frag := ipv4TCP("10.0.1.10", "10.0.2.20", 1, 2, 0x02, 1500)
	binary.BigEndian.PutUint16(frag[6:], 185) // a later fragment: no ports
	icmp := ipv4TCP("10.0.1.10", "10.0.2.20", 0x0800, 0x1234, 0, 84)
	icmp[9] = 1
	for _, tt := range []struct {
		name string
		b    []byte
		want Packet
		ok   bool
	}{
		{"syn", ipv4TCP("10.0.1.10", "10.0.2.20", 51000, 80, 0x02, 60), Packet{tcp("10.0.1.10", 51000, "10.0.2.20", 80), 60, FlagSYN}, true},
		{"syn-ack", ipv4TCP("10.0.2.20", "10.0.1.10", 80, 51000, 0x12, 60), Packet{tcp("10.0.2.20", 80, "10.0.1.10", 51000), 60, FlagSYNACK}, true},
		{"icmp has no ports", icmp, Packet{Flow{Proto: 1, Src: netip.MustParseAddr("10.0.1.10"), Dst: netip.MustParseAddr("10.0.2.20")}, 84, 0}, true},
		{"later fragment", frag, Packet{Flow{Proto: 6, Src: netip.MustParseAddr("10.0.1.10"), Dst: netip.MustParseAddr("10.0.2.20")}, 1500, 0}, true},
		{"ipv6 udp", v6, Packet{Flow{Proto: 17, Src: netip.MustParseAddr("2600::1"), Dst: netip.MustParseAddr("2600::2"), SrcPort: 5353, DstPort: 53}, 60, 0}, true},
		{"short", []byte{0x45, 0}, Packet{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParsePacket(tt.b)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestAddDrop: the rows of A2.3 that drops decide.
func TestAddDrop(t *testing.T) {
	ws := time.Unix(1_800_000_000, 0).Truncate(time.Minute)
	s := ws.Unix()
	syn, _ := ParsePacket(ipv4TCP("10.0.1.10", "10.0.2.20", 51000, 80, 0x02, 60))
	f, _ := ParseFormat("${interface-id} ${flow-direction} ${packets} ${bytes} ${action} ${tcp-flags} ${log-status}")
	for _, tt := range []struct {
		name string
		d    Drop
		want []string
	}{
		// B's group refuses A's SYN (three tries): A egress ACCEPT, B ingress REJECT with 2.
		{"receiver's group refuses", Drop{From: ifcA, To: ifcB, SenderAdmitted: true, Packet: syn, Time: s + 1},
			[]string{"eni-0a egress 3 180 ACCEPT 2 OK", "eni-0b ingress 3 180 REJECT 2 OK"}},
		// A's own egress refuses: egress REJECT on A, nothing on B (NODATA).
		{"sender's egress refuses", Drop{From: ifcA, To: ifcB, AtEgress: true, Packet: syn, Time: s + 1},
			[]string{"eni-0a egress 3 180 REJECT 2 OK", "eni-0b - - - - - NODATA"}},
		// From the internet (no sending interface) to B, refused by B's subnet ACL.
		{"from outside", Drop{To: ifcB, Packet: syn, Time: s + 1},
			[]string{"eni-0a - - - - - NODATA", "eni-0b ingress 3 180 REJECT 2 OK"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAggregator(0)
			for range 3 {
				a.AddDrop(tt.d)
			}
			if diff := cmp.Diff(tt.want, lines(f, a.Close(ws, time.Minute, []*Interface{ifcA, ifcB}))); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
