package host

import (
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// Desired is what the host should hold at one store revision: computed once per revision from
// one snapshot of every network, then applied. It is plain data, so that what the host wants
// can be tested without a kernel, and read-only: Plan may hand the same maps out again.
type Desired struct {
	Rev int64
	// Routers are the VPC routers, by VPC: one for every VPC with a running lab instance.
	Routers map[string]Router
	// Instances are the running lab instances, by instance ID: pointers into the plan's
	// cache, for reading (with 1,000 instances, a map of the values was most of what a
	// change of one instance allocated, 0.8 MB).
	Instances map[string]*Instance
	// SameInstances says Instances is the previous Plan's, unchanged: no instance, nor an
	// interface or subnet of one, changed since (a rule or a route did). The host then has
	// no instance to add, remove or rewire, and skips the walks over all of them.
	SameInstances bool
	// Stopped are the stopped lab instances: they run nothing (no sandbox, namespace or
	// link), but their files — console output, the first-boot mark — stay for their next
	// start, as an EBS-backed instance's disk outlives a stop.
	Stopped map[string]bool
	// Underlay is the host's underlay filter (dataplane.Underlay): a segment for every VPC
	// whose router here has peers. UnderlayNamespace is where it goes, the namespace of the
	// host's underlay address: "" on a single host, which has no filter.
	Underlay          []dataplane.Segment
	UnderlayNamespace string
}

// Router is one VPC's router namespace, its operator attachment (console-ssh.md §B4: the
// operator outside the VPC, fixed for the router's life) and the ruleset it must enforce.
type Router struct {
	VPC       string
	Namespace string
	Operator  netlab.Operator
	Ruleset   *dataplane.Ruleset
	// Routing is the router's internet link, public addresses and route tables.
	Routing Routing
	// Overlay is the router's VXLAN device and Peers the other hosts holding running
	// instances of its VPC, when the VPC spans hosts (docs/cross-host.md); nil and none on a
	// single host.
	Overlay *netlab.Overlay
	Peers   []netlab.Peer
}

// Placement is where interfaces are when this host is one of several (docs/cross-host.md):
// an input of the planner, filled in from the control plane's placement of instances. The
// zero value is a single host: every interface is local and no VPC spans hosts.
type Placement struct {
	Self      string                // this host's name; "" for a single host
	Namespace string                // the namespace of this host's underlay address
	Underlay  map[string]netip.Addr // host name → underlay address, this host's too
	// Of is where each interface is, by ID: its host's name. An interface with no entry is
	// taken for a local one, as on a single host (but see natHost).
	Of map[string]string
	// Internet is the internet namespace this host's routers link to; "" for the host's own
	// (Names.Internet). The testbed's hosts share one, so that one server "on the internet"
	// is reachable from every host (docs/cross-host.md).
	Internet string
}

// On reports whether the host is one of several.
func (p Placement) On() bool { return p.Self != "" }

// remote reports whether an interface is placed on another host.
func (p Placement) remote(eni string) bool {
	h, ok := p.Of[eni]
	return p.On() && ok && h != p.Self
}

// natHost is the host a NAT gateway runs on ("" on a single host): where its interface is
// placed, as AWS's NAT gateway is one thing in one subnet. A gateway whose interface has no
// placement runs on the first host by name, so that every host agrees without asking (the
// control plane does not place NAT gateways' interfaces yet: docs/cross-host.md).
func (p Placement) natHost(g *model.NATGateway) string {
	if !p.On() {
		return ""
	}
	if h, ok := p.Of[g.ENIID]; ok && g.ENIID != "" {
		return h
	}
	if len(p.Underlay) == 0 {
		return p.Self
	}
	return slices.Min(slices.Collect(maps.Keys(p.Underlay)))
}

// remoteNAT reports whether a NAT gateway runs on another host.
func (p Placement) remoteNAT(g *model.NATGateway) bool { return p.On() && p.natHost(g) != p.Self }

// natActive reports whether a NAT gateway translates anything: available, public, with an
// IPv4 address, and its VPC with an attached internet gateway (its traffic leaves by it).
func natActive(n netmap.Network, g *model.NATGateway) bool {
	return g.State == model.NATAvailable && g.ConnectivityType == model.NATPublic && g.PublicIP.Is4() &&
		slices.ContainsFunc(n.IGWs, func(i *model.InternetGateway) bool { return i.VpcID == g.VpcID })
}

// fingerprint is what a VPC's routing takes from the placement (routingFrom's objects are
// the rest): this host, its internet namespace, which of the VPC's interfaces are elsewhere,
// and where its NAT gateways run. Empty on a single host.
func (p Placement) fingerprint(n netmap.Network, vpc string) string {
	if !p.On() {
		return ""
	}
	var b strings.Builder
	b.WriteString(p.Self + "|" + p.Internet + "|")
	for _, e := range n.ENIs {
		if e.VpcID == vpc && p.remote(e.ID) {
			b.WriteString(e.ID + ",")
		}
	}
	for _, g := range n.NATGateways {
		if g.VpcID == vpc {
			b.WriteString("|" + g.ID + "@" + p.natHost(g))
		}
	}
	return b.String()
}

// spans is what a VPC's router needs of the other hosts: the interfaces placed there (no
// chains here, members all the same) and, per host with running instances, their addresses.
type spans struct {
	remote map[string]bool
	addrs  map[string][]netip.Addr // host → addresses of running instances' interfaces
	// nat are the other hosts that run an active NAT gateway of the VPC: their addresses
	// include the gateway's private address (the next hop of routes to it), and they send
	// the internet's replies (dataplane.Overlay.Replies).
	nat map[string]bool
}

// spread finds, for each VPC of a network, its interfaces on other hosts.
func (p Placement) spread(n netmap.Network, enis map[string]*model.NetworkInterface) map[string]*spans {
	out := map[string]*spans{}
	of := func(vpc string) *spans {
		if out[vpc] == nil {
			out[vpc] = &spans{remote: map[string]bool{}, addrs: map[string][]netip.Addr{}, nat: map[string]bool{}}
		}
		return out[vpc]
	}
	for _, e := range n.ENIs {
		if p.remote(e.ID) {
			of(e.VpcID).remote[e.ID] = true
		}
	}
	for _, in := range n.Instances {
		if in.State != model.StateRunning {
			continue
		}
		for _, id := range in.InterfaceIDs {
			if e := enis[id]; e != nil && p.remote(id) {
				if _, known := p.Underlay[p.Of[id]]; known {
					s := of(e.VpcID)
					s.addrs[p.Of[id]] = append(s.addrs[p.Of[id]], e.Addrs()...)
				}
			}
		}
	}
	for _, g := range n.NATGateways {
		h := p.natHost(g)
		if _, known := p.Underlay[h]; !known || !p.remoteNAT(g) || !natActive(n, g) || !g.PrivateIP.Is4() {
			continue
		}
		s := of(g.VpcID)
		s.addrs[h] = append(s.addrs[h], g.PrivateIP)
		s.nat[h] = true
	}
	return out
}

// overlay is a VPC router's device and peers here, and the segment of the underlay filter;
// nil when no other host holds a running instance (or an active NAT gateway) of the VPC.
// inside are the VPC's IPv4 blocks.
func (p Placement) overlay(names netlab.Names, v *model.VPC, inside []netip.Prefix, s *spans) (*netlab.Overlay, []netlab.Peer, *dataplane.Segment) {
	if s == nil || len(s.addrs) == 0 {
		return nil, nil, nil
	}
	vpc := v.ID
	o := &netlab.Overlay{Host: p.Namespace, Link: names.Overlay(vpc), VNI: VNI(v), Local: p.Underlay[p.Self],
		MAC: netlab.OverlayMAC(p.Self, vpc), MTU: netlab.InstanceMTU}
	seg := &dataplane.Segment{VNI: o.VNI, Inside: inside}
	var peers []netlab.Peer
	for _, h := range slices.Sorted(maps.Keys(s.addrs)) {
		peers = append(peers, netlab.Peer{Underlay: p.Underlay[h], MAC: netlab.OverlayMAC(h, vpc), Addrs: s.addrs[h]})
		seg.Peers = append(seg.Peers, dataplane.SegmentPeer{Underlay: p.Underlay[h], Addrs: s.addrs[h], Outside: s.nat[h]})
	}
	if len(s.nat) == 0 {
		seg.Inside = nil
	}
	return o, peers, seg
}

// VNI is the number of a VPC's segment: the one the store allocated with it, or for a VPC
// stored before VNIs were, the one every host derives from its ID (control/vni.go).
func VNI(v *model.VPC) uint32 {
	if v.VNI != 0 {
		return v.VNI
	}
	return netlab.VNI(v.ID)
}

// Instance is one lab instance: what `stockade lab list` shows, the interfaces to wire (the
// primary first), the user data to run at its launch and its type (which sets its limits).
type Instance struct {
	netmap.LabInstance
	Interfaces   []netlab.Interface
	UserData     []byte
	InstanceType string
	// PublicKey is the launch key pair's public key (authorized_keys format), empty when the
	// instance was launched without one.
	PublicKey string
	// Boots is the instance's boot count (model.Instance.Boots): when it changes, a start or a
	// reboot asks for a new sandbox on the same interfaces.
	Boots int
}

// Cache is what Plan keeps between revisions so that a change costs what it touches, not
// what the host holds: one dataplane.Renderer per VPC (a change re-renders only the groups
// and interfaces it touched) and each instance's plan, reused while the instance, its
// interfaces and their subnets are the same objects (the model is copy-on-write). Plan fills
// it in; a nil Cache plans everything from scratch.
type Cache struct {
	renderers           map[string]*dataplane.Renderer
	instances, nextInst map[*model.Instance]*plannedInstance
	// planned is the last Desired.Instances: handed out again while no instance changed
	// (with 1,000 instances, a new map is most of what a change allocates).
	planned map[string]*Instance
	// routing is each VPC's last routing and the objects it was made from; tables numbers
	// the route tables of each VPC router.
	routing map[string]*plannedRouting
	tables  Tables
	// scratch and spare are what Plan builds for each network and drops after it, and last
	// revision's instance plans: kept for the next call (cleared, not made again), so that a
	// change at 1,000 instances does not allocate them anew. They were half of what a
	// reconcile allocated, and what it allocates is what the garbage collector takes back
	// from the cores while the next change waits.
	scratch scratch
	spare   map[*model.Instance]*plannedInstance
	// walk is what the last full walk of every network saw, from which a change to
	// interfaces alone is planned without another (replan.go); nil when it cannot be.
	// replans counts the plans made so, for the tests.
	walk    *walk
	replans int
}

// scratch is one network's objects by ID and the lists of objects plans are made from.
type scratch struct {
	idx         routingIndex
	from, rfrom []any
}

// reset empties s for the next network, keeping what it allocated.
func (s *scratch) reset() {
	if s.idx.vpcs == nil {
		s.idx = routingIndex{vpcs: map[string]*model.VPC{}, enis: map[string]*model.NetworkInterface{},
			subnets: map[string]*model.Subnet{}, instances: map[string]*model.Instance{}}
	}
	clear(s.idx.vpcs)
	clear(s.idx.enis)
	clear(s.idx.subnets)
	clear(s.idx.instances)
	s.from, s.rfrom = s.from[:0], s.rfrom[:0]
}

// plannedRouting is a VPC's routing and the objects it was made from.
type plannedRouting struct {
	from []any
	rt   Routing
}

// routingOf returns a VPC's routing, planned again only when an object it is made from changed.
func (c *Cache) routingOf(n netmap.Network, idx routingIndex, vpc string, names netlab.Names, from []any, place Placement) Routing {
	if c == nil {
		return planRouting(n, idx, vpc, names, nil, place)
	}
	if p := c.routing[vpc]; p != nil && slices.EqualFunc(p.from, from, sameForRouting) {
		if !slices.Equal(p.from, from) {
			p.from = append(p.from[:0], from...) // the same again next time, by pointer
		}
		return p.rt
	}
	if c.routing == nil {
		c.routing = map[string]*plannedRouting{}
	}
	rt := planRouting(n, idx, vpc, names, &c.tables, place)
	c.routing[vpc] = &plannedRouting{slices.Clone(from), rt}
	return rt
}

// plannedInstance is an instance's plan and the objects it was made from.
type plannedInstance struct {
	from []any
	in   Instance
}

func (c *Cache) render(n dataplane.Network) *dataplane.Ruleset {
	if c == nil {
		return dataplane.Render(n)
	}
	if c.renderers == nil {
		c.renderers = map[string]*dataplane.Renderer{}
	}
	r := c.renderers[n.VPC.ID]
	if r == nil {
		r = new(dataplane.Renderer)
		c.renderers[n.VPC.ID] = r
	}
	return r.Render(n)
}

// forget drops the renderer of a VPC whose router is gone.
func (c *Cache) forget(vpc string) {
	if c != nil {
		delete(c.renderers, vpc)
		delete(c.routing, vpc)
		c.tables.forget(vpc)
	}
}

// Plan computes what the host should hold at revision rev: a lab instance for every running
// instance whose primary interface and subnet exist, with every attached interface whose
// subnet exists, and a router, with its rendered ruleset, for every VPC that has one. A VPC
// without a running instance has no router: on a single host, nothing would cross it.
func Plan(rev int64, nets []netmap.Network, names netlab.Names, c *Cache) Desired {
	return PlanPlaced(rev, nets, names, c, Placement{})
}

// PlanPlaced is Plan on one host of several: only the instances whose primary interface is
// placed on this host run here, and the router of a VPC with running instances on other
// hosts gets its VXLAN device and peers, and a ruleset in which their interfaces are members
// of their groups but are not checked there. Instances get InstanceMTU, which the overlay
// carries. With the zero Placement it is Plan.
func PlanPlaced(rev int64, nets []netmap.Network, names netlab.Names, c *Cache, place Placement) Desired {
	if d, ok := c.replan(rev, nets, names, place); ok {
		return d
	}
	count := 0
	for _, n := range nets {
		count += len(n.Instances)
	}
	d := Desired{Rev: rev, Routers: map[string]Router{}, Stopped: map[string]bool{}, UnderlayNamespace: place.Namespace}
	if !place.On() {
		d.UnderlayNamespace = ""
	}
	plans := make([]*plannedInstance, 0, count)
	same := c != nil // every instance planned as last time
	sc := &scratch{}
	if c != nil {
		sc = &c.scratch
		c.nextInst = c.spare
		if c.nextInst == nil {
			c.nextInst = make(map[*model.Instance]*plannedInstance, count)
		}
		defer func() {
			clear(c.instances)
			c.instances, c.spare, c.nextInst = c.nextInst, c.instances, nil
		}()
	}
	for i, n := range nets {
		sc.reset()
		vpcs, enis, subnets := sc.idx.vpcs, sc.idx.enis, sc.idx.subnets
		for _, v := range n.VPCs {
			vpcs[v.ID] = v
		}
		for _, e := range n.ENIs {
			enis[e.ID] = e
		}
		for _, sn := range n.Subnets {
			subnets[sn.ID] = sn
		}
		indexed := false // sc.idx.instances holds the network's instances
		var routers []string
		var spread map[string]*spans
		mtu := 0
		if place.On() {
			spread, mtu = place.spread(n, enis), netlab.InstanceMTU
		}
		// addRouter plans a VPC's router, once. On one host, only the instances decide which
		// routers there are: the plan from the last walk (replan.go) keeps this walk's list
		// while the instances, VPCs, subnets and interface IDs stay the same, so anything
		// else that adds a router on one host must make replan refuse.
		addRouter := func(vpc string) {
			if _, ok := d.Routers[vpc]; ok {
				return
			}
			if !indexed {
				for _, x := range n.Instances {
					sc.idx.instances[x.ID] = x
				}
				indexed = true
			}
			routers = append(routers, vpc)
			c.planRouter(&d, n, sc.idx, vpc, names, place, spread, &sc.rfrom)
		}
		for _, in := range n.Instances {
			if in.Stopped() {
				d.Stopped[in.ID] = true
			}
			if in.State != model.StateRunning || len(in.InterfaceIDs) == 0 || vpcs[in.VpcID] == nil {
				continue
			}
			e := enis[in.InterfaceIDs[0]]
			if e == nil || subnets[e.SubnetID] == nil || place.remote(e.ID) {
				continue
			}
			sc.from = planFrom(in, sc.idx, sc.from[:0])
			p, ok := c.previous(in)
			if !ok || !slices.Equal(p.from, sc.from) {
				planned := planInstance(n, in, enis, subnets, names, mtu)
				if ok && reflect.DeepEqual(p.in, planned) {
					// An interface changed in what the instance's plan does not read — its
					// groups, in a membership change: the plan stands and the instances stay
					// the same, so that the apply skips its walks over every instance.
					p.from = append(p.from[:0], sc.from...)
				} else {
					p, same = &plannedInstance{slices.Clone(sc.from), planned}, false
				}
			}
			if c != nil {
				c.nextInst[in] = p
			}
			plans = append(plans, p)
			addRouter(in.VpcID)
		}
		// A NAT gateway that runs here needs its VPC's router even without an instance here,
		// while instances elsewhere may send through it (AWS's model: the gateway is one
		// thing in one place, and the other hosts route to it over the overlay).
		for _, g := range n.NATGateways {
			if place.On() && !place.remoteNAT(g) && natActive(n, g) && vpcs[g.VpcID] != nil && spread[g.VpcID] != nil &&
				len(spread[g.VpcID].addrs) > 0 {
				addRouter(g.VpcID)
			}
		}
		c.walked(i, n, sc, routers, indexed, place)
	}
	c.walkedAll(len(nets), d.Stopped, place)
	if same && c.planned != nil && len(plans) == len(c.planned) {
		d.Instances, d.SameInstances = c.planned, true
		return d
	}
	d.Instances = make(map[string]*Instance, len(plans))
	for _, p := range plans {
		d.Instances[p.in.ID] = &p.in
	}
	if c != nil {
		c.planned = d.Instances
	}
	return d
}

// planRouter plans the router of vpc in n into d: its routing (again only when what it is
// made from changed) and its ruleset (rendered from what changed).
func (c *Cache) planRouter(d *Desired, n netmap.Network, idx routingIndex, vpc string, names netlab.Names, place Placement, spread map[string]*spans, rfrom *[]any) {
	*rfrom = routingFrom(n, vpc, (*rfrom)[:0])
	if f := place.fingerprint(n, vpc); f != "" {
		*rfrom = append(*rfrom, f)
	}
	rt := c.routingOf(n, idx, vpc, names, *rfrom, place)
	logged, flags := flowLogCoverage(n.Snapshot, vpc)
	v := idx.vpcs[vpc]
	var inside []netip.Prefix
	for _, b := range v.Blocks() {
		if b.CIDR.Addr().Is4() {
			inside = append(inside, b.CIDR.Masked())
		}
	}
	ov, peers, seg := place.overlay(names, v, inside, spread[vpc])
	var dov dataplane.Overlay
	if ov != nil {
		dov = dataplane.Overlay{Link: ov.Link, Remote: spread[vpc].remote, Replies: len(spread[vpc].nat) > 0}
		d.Underlay = append(d.Underlay, *seg)
	}
	d.Routers[vpc] = Router{VPC: vpc, Namespace: names.Router(vpc), Operator: names.OperatorOf(vpc), Routing: rt,
		Overlay: ov, Peers: peers,
		Ruleset: c.render(dataplane.Network{VPC: v, Snapshot: n.Snapshot, Link: names.Link, Operator: operator(names),
			Internet: rt.Internet, Unchecked: rt.Unchecked, FlowLogs: logged, FlowLogFlags: flags, Overlay: dov})}
}

// planFrom lists what an instance's plan reads: the instance (and through it its tenant),
// its interfaces and their subnets.
func planFrom(in *model.Instance, idx routingIndex, from []any) []any {
	for _, id := range in.InterfaceIDs {
		x := idx.enis[id]
		from = append(from, x)
		if x != nil {
			from = append(from, idx.subnets[x.SubnetID])
		}
	}
	return from
}

func (c *Cache) previous(in *model.Instance) (*plannedInstance, bool) {
	if c == nil {
		return nil, false
	}
	p, ok := c.instances[in]
	return p, ok
}

// planInstance is a running instance whose primary interface and its subnet exist, with
// every attached interface whose subnet exists.
func planInstance(n netmap.Network, in *model.Instance, enis map[string]*model.NetworkInterface, subnets map[string]*model.Subnet, names netlab.Names, mtu int) Instance {
	e := enis[in.InterfaceIDs[0]]
	ns := names.Instance(in.ID)
	li := netmap.LabInstance{ID: in.ID, Account: n.Tenant.Account, Region: n.Tenant.Region, VpcID: in.VpcID, ENI: e.ID, ImageID: in.ImageID,
		Address: e.PrimaryAddr().String(), Namespace: ns, Router: names.Router(in.VpcID),
		Operator: names.Operator(in.VpcID)}
	for _, a := range e.IPv6 {
		li.IPv6 = append(li.IPv6, a.String())
	}
	ifaces := []netlab.Interface{iface(names, ns, e, subnets[e.SubnetID])}
	for _, id := range in.InterfaceIDs[1:] {
		if x := enis[id]; x != nil && x.Attachment != nil && subnets[x.SubnetID] != nil {
			ifaces = append(ifaces, iface(names, ns, x, subnets[x.SubnetID]))
		}
	}
	for k, i := range ifaces {
		li.Links = append(li.Links, i.Link)
		ifaces[k].MTU = mtu
	}
	return Instance{LabInstance: li, Interfaces: ifaces, UserData: in.UserData, InstanceType: in.InstanceType, PublicKey: in.PublicKey,
		Boots: in.Boots}
}

// operator is the operator attachment as every router's ruleset sees it.
func operator(names netlab.Names) dataplane.Operator {
	return dataplane.Operator{Link: names.OperatorLink(), Addr: netlab.OperatorAddr, Addr6: netlab.OperatorAddr6}
}

// iface is how an interface of an instance is wired in its namespace.
func iface(names netlab.Names, ns string, e *model.NetworkInterface, sn *model.Subnet) netlab.Interface {
	i := netlab.Interface{Namespace: ns, Link: names.Link(e.ID), MAC: e.MAC,
		Addr: e.PrivateIP, Subnet: sn.CIDR, Secondary: v4(e.SecondaryIPs), IPv6: e.IPv6}
	if e.Attachment != nil {
		i.DeviceIndex = e.Attachment.DeviceIndex
	}
	return i
}

func v4(as []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range as {
		if a.Is4() {
			out = append(out, a)
		}
	}
	return out
}
