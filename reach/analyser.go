package reach

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/policy"
)

// Analyser answers questions about one snapshot. It is immutable and safe for concurrent use.
type Analyser struct {
	p       *policy.Policy
	enis    map[string]*model.NetworkInterface
	primary map[string]string // instance ID → its primary (device 0) interface
	groups  map[string]*model.Group
	nacls   map[string]*model.NACL // subnet ID → its network ACL
	igws    []*model.InternetGateway
	// byAddr indexes the interfaces by address (owner): a path question from each of
	// thousands of interfaces must not scan them all.
	byAddr map[netip.Addr][]*model.NetworkInterface
}

// New compiles a snapshot into an analyser.
func New(s netmap.Snapshot) (*Analyser, error) {
	p, err := policy.Compile(s)
	if err != nil {
		return nil, err
	}
	return WithPolicy(p, s), nil
}

// WithPolicy is an analyser of s answering from p, which must be s compiled: the auditor has
// compiled it already, and compiling it again would double the cost of an audit.
func WithPolicy(p *policy.Policy, s netmap.Snapshot) *Analyser {
	a := &Analyser{p: p, enis: map[string]*model.NetworkInterface{}, primary: map[string]string{},
		groups: map[string]*model.Group{}, nacls: map[string]*model.NACL{}, byAddr: map[netip.Addr][]*model.NetworkInterface{}}
	for _, n := range s.ENIs {
		a.enis[n.ID] = n
		for _, x := range n.Addrs() {
			a.byAddr[x] = append(a.byAddr[x], n)
		}
		if n.Attachment != nil && n.Attachment.DeviceIndex == 0 {
			a.primary[n.Attachment.InstanceID] = n.ID
		}
	}
	for _, g := range s.Groups {
		a.groups[g.ID] = g
	}
	a.igws = s.IGWs
	for _, acl := range s.NACLs {
		for _, as := range acl.Assocs {
			a.nacls[as.SubnetID] = acl
		}
	}
	return a
}

// Policy is the compiled policy the analyser answers from.
func (a *Analyser) Policy() *policy.Policy { return a.p }

// Endpoint is one end of a path as resolved: an interface (with its instance, subnet and VPC)
// and the address used, or an address outside every interface of the snapshot.
type Endpoint struct {
	Interface string     `json:"interface,omitempty"`
	Instance  string     `json:"instance,omitempty"`
	Subnet    string     `json:"subnet,omitempty"`
	VPC       string     `json:"vpc,omitempty"`
	Address   netip.Addr `json:"address"`
	// Gateway is the internet gateway a question named as this end (igw-…): the end is then
	// the internet beyond it, at Address (InternetIPv4 or InternetIPv6).
	Gateway string `json:"internetGateway,omitempty"`
}

// The address an internet-gateway end of a question stands for: one internet address of the
// family of the other end. They are documentation addresses (RFC 5737, RFC 3849), which no
// sane route singles out, so that the default route decides as it does for the whole
// internet.
var (
	InternetIPv4 = netip.MustParseAddr("203.0.113.1")
	InternetIPv6 = netip.MustParseAddr("2001:db8::1")
)

func (e Endpoint) policy() policy.Endpoint { return policy.Endpoint{ENI: e.Interface} }

// String names the endpoint for people: "eni-… (10.0.1.5)" or "198.51.100.7 (outside)".
func (e Endpoint) String() string {
	if e.Gateway != "" {
		return e.Gateway + " (the internet, " + e.Address.String() + ")"
	}
	if e.Interface == "" {
		return e.Address.String() + " (outside)"
	}
	name := e.Interface
	if e.Instance != "" {
		name = e.Instance + " " + name
	}
	return name + " (" + e.Address.String() + ")"
}

// ErrNotFound is the error of a name that matches nothing in the snapshot.
type ErrNotFound struct{ What, ID string }

func (e *ErrNotFound) Error() string { return fmt.Sprintf("no %s %s", e.What, e.ID) }

// Interface resolves an interface ID, an instance ID (its primary interface) or an address of
// an interface to that interface.
func (a *Analyser) Interface(v string) (*model.NetworkInterface, error) {
	switch {
	case strings.HasPrefix(v, "eni-"):
		if n := a.enis[v]; n != nil {
			return n, nil
		}
		return nil, &ErrNotFound{"network interface", v}
	case strings.HasPrefix(v, "i-"):
		if id, ok := a.primary[v]; ok {
			return a.enis[id], nil
		}
		return nil, &ErrNotFound{"instance", v}
	}
	addr, err := netip.ParseAddr(v)
	if err != nil {
		return nil, fmt.Errorf("%q is not an interface ID (eni-…), an instance ID (i-…) or an IP address", v)
	}
	n, err := a.owner(addr)
	if err == nil && n == nil {
		err = &ErrNotFound{"interface with the address", v}
	}
	return n, err
}

// owner is the interface that holds an address, nil for none.
func (a *Analyser) owner(addr netip.Addr) (*model.NetworkInterface, error) {
	found := a.byAddr[addr]
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	}
	var ids []string
	for _, n := range found {
		ids = append(ids, n.ID)
	}
	return nil, fmt.Errorf("%s belongs to several interfaces (%s) in different VPCs: name the interface", addr, strings.Join(ids, ", "))
}

// resolve turns the two ends of a question into endpoints of one address family: an interface
// or instance uses its primary private address, or its first IPv6 address when the other end
// is an IPv6 address; an internet gateway stands for an internet address of the other end's
// family.
func (a *Analyser) resolve(from, to string) (Endpoint, Endpoint, error) {
	src, sa, sgw, err := a.end(from)
	if err != nil {
		return Endpoint{}, Endpoint{}, fmt.Errorf("source: %w", err)
	}
	dst, da, dgw, err := a.end(to)
	if err != nil {
		return Endpoint{}, Endpoint{}, fmt.Errorf("destination: %w", err)
	}
	if sgw != "" && dgw != "" {
		return Endpoint{}, Endpoint{}, fmt.Errorf("both ends are internet gateways: one end is an interface or instance")
	}
	switch {
	case sgw != "":
		sa = internet(da.IsValid() && da.Is6())
		if !da.IsValid() {
			da = dst.PrimaryAddr()
		}
	case dgw != "":
		da = internet(sa.IsValid() && sa.Is6())
		if !sa.IsValid() {
			sa = src.PrimaryAddr()
		}
	case sa.IsValid() && da.IsValid():
	case sa.IsValid():
		da, err = address(dst, sa.Is6())
	case da.IsValid():
		sa, err = address(src, da.Is6())
	default:
		// IPv4 unless an end is in an IPv6-only subnet, which has IPv6 addresses only.
		v6 := src.IPv6Only() || dst.IPv6Only()
		if sa, err = address(src, v6); err == nil {
			da, err = address(dst, v6)
		}
	}
	if err != nil {
		return Endpoint{}, Endpoint{}, err
	}
	if sa.Is4() != da.Is4() {
		return Endpoint{}, Endpoint{}, fmt.Errorf("the source %s and the destination %s are of different address families", sa, da)
	}
	se, de := a.endpoint(src, sa), a.endpoint(dst, da)
	se.Gateway, de.Gateway = sgw, dgw
	return se, de, nil
}

func internet(v6 bool) netip.Addr {
	if v6 {
		return InternetIPv6
	}
	return InternetIPv4
}

// end resolves one side: an interface (address left open unless given), an internet gateway
// of the snapshot, or an address.
func (a *Analyser) end(v string) (*model.NetworkInterface, netip.Addr, string, error) {
	if strings.HasPrefix(v, "igw-") {
		for _, g := range a.igws {
			if g.ID == v {
				return nil, netip.Addr{}, v, nil
			}
		}
		return nil, netip.Addr{}, "", &ErrNotFound{"internet gateway", v}
	}
	n, addr, err := a.endOf(v)
	return n, addr, "", err
}

// endOf resolves an interface (address left open unless given) or an address.
func (a *Analyser) endOf(v string) (*model.NetworkInterface, netip.Addr, error) {
	if strings.HasPrefix(v, "eni-") || strings.HasPrefix(v, "i-") {
		n, err := a.Interface(v)
		return n, netip.Addr{}, err
	}
	addr, err := netip.ParseAddr(v)
	if err != nil {
		return nil, netip.Addr{}, fmt.Errorf("%q is not an interface ID (eni-…), an instance ID (i-…) or an IP address", v)
	}
	n, err := a.owner(addr)
	return n, addr, err
}

func address(n *model.NetworkInterface, v6 bool) (netip.Addr, error) {
	if !v6 && n.IPv6Only() {
		return netip.Addr{}, fmt.Errorf("%s has no IPv4 address: it is in an IPv6-only subnet", n.ID)
	}
	if !v6 {
		return n.PrivateIP, nil
	}
	if len(n.IPv6) == 0 {
		return netip.Addr{}, fmt.Errorf("%s has no IPv6 address", n.ID)
	}
	return n.IPv6[0], nil
}

func (a *Analyser) endpoint(n *model.NetworkInterface, addr netip.Addr) Endpoint {
	if n == nil {
		return Endpoint{Address: addr}
	}
	e := Endpoint{Interface: n.ID, Subnet: n.SubnetID, VPC: n.VpcID, Address: addr}
	if n.Attachment != nil {
		e.Instance = n.Attachment.InstanceID
	}
	return e
}
