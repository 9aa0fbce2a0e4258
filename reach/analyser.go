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
}

// New compiles a snapshot into an analyser.
func New(s netmap.Snapshot) (*Analyser, error) {
	p, err := policy.Compile(s)
	if err != nil {
		return nil, err
	}
	a := &Analyser{p: p, enis: map[string]*model.NetworkInterface{}, primary: map[string]string{},
		groups: map[string]*model.Group{}, nacls: map[string]*model.NACL{}}
	for _, n := range s.ENIs {
		a.enis[n.ID] = n
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
	return a, nil
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
}

func (e Endpoint) policy() policy.Endpoint { return policy.Endpoint{ENI: e.Interface} }

// String names the endpoint for people: "eni-… (10.0.1.5)" or "198.51.100.7 (outside)".
func (e Endpoint) String() string {
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
	var found []*model.NetworkInterface
	for _, n := range a.enis {
		for _, x := range n.Addrs() {
			if x == addr {
				found = append(found, n)
			}
		}
	}
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
// is an IPv6 address.
func (a *Analyser) resolve(from, to string) (Endpoint, Endpoint, error) {
	src, sa, err := a.end(from)
	if err != nil {
		return Endpoint{}, Endpoint{}, fmt.Errorf("source: %w", err)
	}
	dst, da, err := a.end(to)
	if err != nil {
		return Endpoint{}, Endpoint{}, fmt.Errorf("destination: %w", err)
	}
	switch {
	case sa.IsValid() && da.IsValid():
	case sa.IsValid():
		da, err = address(dst, sa.Is6())
	case da.IsValid():
		sa, err = address(src, da.Is6())
	default:
		sa, da = src.PrivateIP, dst.PrivateIP
	}
	if err != nil {
		return Endpoint{}, Endpoint{}, err
	}
	if sa.Is4() != da.Is4() {
		return Endpoint{}, Endpoint{}, fmt.Errorf("the source %s and the destination %s are of different address families", sa, da)
	}
	return a.endpoint(src, sa), a.endpoint(dst, da), nil
}

// end resolves one side: an interface (address left open unless given), or an address.
func (a *Analyser) end(v string) (*model.NetworkInterface, netip.Addr, error) {
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
