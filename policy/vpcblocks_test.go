package policy

import (
	"net/netip"
	"testing"

	"github.com/stockade/stockade/model"
)

// TestSecondaryBlockIsLocal: an address of a VPC's secondary IPv4 block (AssociateVpcCidrBlock)
// stays in the VPC, as one of its primary block does, in the verdict, the explanation and the
// oracle alike; without the block the same address goes out through the internet gateway.
func TestSecondaryBlockIsLocal(t *testing.T) {
	const remote = "100.64.9.9"
	for _, tt := range []struct {
		name      string
		secondary bool
		want      Routing
	}{
		{"without the block", false, Routing{Target: "igw-00000001", PublicIP: netip.MustParseAddr("192.0.2.4")}},
		{"with the block", true, Routing{Code: CodeNoRoute, Target: "local", PublicIP: netip.MustParseAddr("192.0.2.4")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newInternetWorld()
			if tt.secondary {
				w.vpc.Secondary = []model.CIDRBlock{{CIDR: netip.MustParsePrefix("100.64.0.0/16"), AssocID: "vpc-cidr-assoc-2"}}
			}
			p := mustCompile(t, w.s)
			got, known := p.Internet(w.web.ID, netip.MustParseAddr(remote), false)
			if !known || got.Code != tt.want.Code || got.Target != tt.want.Target {
				t.Fatalf("routing %+v, want %+v", got, tt.want)
			}
			src, dst, f := Endpoint{ENI: w.web.ID}, Outside, tcpFlow(w.web.PrivateIP.String(), remote, 443)
			want := Admitted
			if tt.want.Code != "" {
				want = NoRoute
			}
			if v, o := p.Verdict(src, dst, f), oracle(w.s, src, dst, f); v != want || o != want {
				t.Errorf("Verdict %v, oracle %v, want %v", v, o, want)
			}
		})
	}
}
