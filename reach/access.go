package reach

import (
	"net/netip"
	"strings"

	"go4.org/netipx"

	"github.com/stockade/stockade/policy"
)

// Traffic is one line of effective access: a protocol, its ports (or ICMP types and codes), and
// the addresses, as the fewest CIDR blocks.
type Traffic struct {
	Protocol string `json:"protocol"`
	// Except, with protocol "all", names the protocols that have lines of their own (or no
	// access at all when they have none).
	Except    []string `json:"except,omitempty"`
	Ports     string   `json:"ports,omitempty"`
	Addresses []string `json:"addresses"`
	// summary is Addresses for people: "0.0.0.0/0 except 10.0.0.0/16" where that is shorter.
	summary string
}

// Access is the effective access of one interface in one direction.
type Access struct {
	Interface string `json:"interface"`
	Instance  string `json:"instance,omitempty"`
	VPC       string `json:"vpc,omitempty"`
	Direction string `json:"direction"` // ingress: what can reach it; egress: what it can reach
	// PublicIP and InternetGateway, in an exposure listing, are the way in from the internet:
	// the interface's public IPv4 address (none for an IPv6-only exposure) and its VPC's
	// attached internet gateway.
	PublicIP        netip.Addr `json:"publicIp,omitzero"`
	InternetGateway string     `json:"internetGateway,omitempty"`
	Traffic         []Traffic  `json:"traffic"`
}

// Access answers "what can reach B?" (ingress) or "what can B reach?" (egress) for an
// interface, instance or interface address.
func (a *Analyser) Access(target string, egress bool) (Access, error) {
	n, err := a.Interface(target)
	if err != nil {
		return Access{}, err
	}
	gs, err := a.p.Access(n.ID, egress, nil)
	if err != nil {
		return Access{}, err
	}
	out := a.access(n.ID, gs)
	out.Direction = "ingress"
	if egress {
		out.Direction = "egress"
	}
	return out, nil
}

func (a *Analyser) access(eni string, gs []policy.Grant) Access {
	n := a.enis[eni]
	out := Access{Interface: n.ID, VPC: n.VpcID, Traffic: traffic(gs)}
	if n.Attachment != nil {
		out.Instance = n.Attachment.InstanceID
	}
	return out
}

func traffic(gs []policy.Grant) []Traffic {
	out := make([]Traffic, 0, len(gs))
	for _, g := range gs {
		t := Traffic{Protocol: g.ProtocolName(), Ports: g.Ports()}
		for _, p := range g.Except {
			t.Except = append(t.Except, policy.Grant{Protocol: p}.ProtocolName())
		}
		for _, p := range g.Prefixes() {
			t.Addresses = append(t.Addresses, p.String())
		}
		t.summary = summarise(g.Addrs)
		out = append(out, t)
	}
	return out
}

// Exposure answers "what is exposed?": for every interface, what reaches it from the internet
// through its VPC's internet gateway (a public address, an attached gateway and a route back
// to the peer; policy.Exposure). Interfaces nothing reaches are left out.
func (a *Analyser) Exposure() ([]Access, error) {
	exp, err := a.p.Exposure()
	if err != nil {
		return nil, err
	}
	out := []Access{}
	for _, e := range exp {
		if len(e.Grants) == 0 {
			continue
		}
		acc := a.access(e.ENI, e.Grants)
		acc.Direction = "ingress"
		acc.PublicIP, acc.InternetGateway = e.PublicIP, e.Gateway
		out = append(out, acc)
	}
	return out, nil
}

var families = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

// summarise writes each address family of a set as its CIDR blocks, or as the whole family
// "except" the blocks missing when that list is shorter.
func summarise(set *netipx.IPSet) string {
	var parts []string
	for _, fam := range families {
		var in, out netipx.IPSetBuilder
		in.AddSet(set)
		in.RemoveSet(complementOf(fam))
		part, _ := in.IPSet()
		have := part.Prefixes()
		if len(have) == 0 {
			continue
		}
		out.AddPrefix(fam)
		out.RemoveSet(part)
		rest, _ := out.IPSet()
		missing := rest.Prefixes()
		switch {
		case len(missing) == 0:
			parts = append(parts, fam.String())
		case len(missing) < len(have):
			parts = append(parts, fam.String()+" except "+join(missing))
		default:
			parts = append(parts, join(have))
		}
	}
	return strings.Join(parts, ", ")
}

func complementOf(fam netip.Prefix) *netipx.IPSet {
	var b netipx.IPSetBuilder
	for _, f := range families {
		if f != fam {
			b.AddPrefix(f)
		}
	}
	s, _ := b.IPSet()
	return s
}

func join(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
