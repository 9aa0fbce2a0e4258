package flowlog

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stockade/stockade/model"
)

var (
	ifcA = &Interface{ID: "eni-0a", Account: "123456789010", VPC: "vpc-1", Subnet: "subnet-a", Instance: "i-0a", Region: "us-east-1", AZID: "use1-az1",
		Primary: netip.MustParseAddr("10.0.1.10"), VPCPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}}
	ifcB = &Interface{ID: "eni-0b", Account: "123456789010", VPC: "vpc-1", Subnet: "subnet-b", Region: "us-east-1", AZID: "use1-az2",
		Primary: netip.MustParseAddr("10.0.2.20"), VPCPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}}
)

func tcp(src string, sport uint16, dst string, dport uint16) Flow {
	return Flow{Proto: 6, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sport, DstPort: dport}
}

func TestTCPFlags(t *testing.T) {
	const fin, syn, rst, psh, ack, urg, ece = 1, 2, 4, 8, 16, 32, 64
	for _, tt := range []struct {
		hdr, want uint8
	}{
		{syn, 2}, {syn | ack, 18}, {ack, 0}, {psh | ack, 0}, {urg | ack, 0}, {syn | ece, 2},
		{rst | ack, 4}, {fin | ack, 1}, {fin | psh | ack, 1}, {syn | rst, 6},
	} {
		if got := TCPFlags(tt.hdr); got != tt.want {
			t.Errorf("TCPFlags(%#x) = %d, want %d", tt.hdr, got, tt.want)
		}
	}
}

func TestRender(t *testing.T) {
	def, err := ParseFormat("")
	if err != nil {
		t.Fatal(err)
	}
	custom, err := ParseFormat("${interface-id} ${flow-direction} ${srcaddr} ${pkt-srcaddr} ${dstaddr} ${srcport} ${dstport} ${tcp-flags} ${type} ${traffic-path} ${vpc-id} ${subnet-id} ${instance-id} ${az-id} ${sublocation-id} ${ecs-task-id} ${log-status}")
	if err != nil {
		t.Fatal(err)
	}
	v3, _ := ParseFormat("${version} ${srcaddr} ${tcp-flags}")
	ssh := Record{Iface: ifcB, Dir: Ingress, Action: Accept, Flow: tcp("172.31.16.139", 20641, "10.0.2.20", 22), Packets: 20, Bytes: 4249, Start: 1418530010, End: 1418530070}
	// The interface answers from a secondary address: srcaddr is still its primary, the
	// packet's address is pkt-srcaddr (A1).
	secondary := Record{Iface: ifcA, Dir: Egress, Action: Accept, Flow: tcp("10.0.1.11", 51000, "10.0.2.20", 80), Packets: 3, Bytes: 180, Start: 60, End: 61, Flags: 3}
	out := Record{Iface: ifcA, Dir: Egress, Action: Reject, Flow: Flow{Proto: 1, Src: netip.MustParseAddr("10.0.1.10"), Dst: netip.MustParseAddr("8.8.8.8")}, Packets: 1, Bytes: 84, Start: 60, End: 60}
	nodata := Record{Iface: ifcB, Status: NoData, Start: 1431280876, End: 1431280934}
	skip := Record{Iface: ifcA, Status: SkipData, Start: 1431280876, End: 1431280934}
	for _, tt := range []struct {
		name string
		f    Format
		r    Record
		want string
	}{
		// AWS's examples (flow-logs-records-examples.html).
		{"default accept", def, ssh, "2 123456789010 eni-0b 172.31.16.139 10.0.2.20 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"},
		{"default nodata", def, nodata, "2 123456789010 eni-0b - - - - - - - 1431280876 1431280934 - NODATA"},
		{"default skipdata", def, skip, "2 123456789010 eni-0a - - - - - - - 1431280876 1431280934 - SKIPDATA"},
		{"custom secondary", custom, secondary, "eni-0a egress 10.0.1.10 10.0.1.11 10.0.2.20 51000 80 3 IPv4 1 vpc-1 subnet-a i-0a use1-az1 - - OK"},
		{"custom ingress has no traffic-path", custom, ssh, "eni-0b ingress 172.31.16.139 172.31.16.139 10.0.2.20 20641 22 0 IPv4 - vpc-1 subnet-b - use1-az2 - - OK"},
		{"custom icmp out of the VPC", custom, out, "eni-0a egress 10.0.1.10 10.0.1.10 8.8.8.8 0 0 0 IPv4 - vpc-1 subnet-a i-0a use1-az1 - - OK"},
		// NODATA keeps what describes the interface and "-" for the traffic (A2.4).
		{"custom nodata", custom, nodata, "eni-0b - - - - - - - - - vpc-1 subnet-b - use1-az2 - - NODATA"},
		{"version of the highest field", v3, secondary, "3 10.0.1.10 3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.f.Line(&tt.r)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
	if got, want := def.Header(), "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}
}

// TestParseFormatSharesValidation: a format CreateFlowLogs refuses is refused here with the
// same error, and every field of the table renders.
func TestParseFormatSharesValidation(t *testing.T) {
	for _, bad := range []string{"${bogus}", "${srcaddr}  ${dstaddr}", "srcaddr", "${srcaddr},${dstaddr}"} {
		_, want := model.ParseFlowLogFormat(bad)
		_, got := ParseFormat(bad)
		if want == nil || got == nil || got.Error() != want.Error() {
			t.Errorf("%q: %v, want %v", bad, got, want)
		}
	}
	r := Record{Iface: ifcA, Flow: tcp("10.0.1.10", 1, "10.0.2.20", 2), Packets: 1}
	for name := range model.FlowLogFields {
		f, err := ParseFormat("${" + name + "}")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := f.Line(&r); got == "" {
			t.Errorf("%s renders nothing", name)
		}
	}
}
