package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Several simulated hosts on one machine (flowlogs-multihost.md §B8.3, docs/cross-host.md):
//
//	fabric namespace (bridge "fabric") ── veth ── host namespace h1 (underlay 192.0.2.1/24)
//	                                   ├─ veth ── host namespace h2 (underlay 192.0.2.2/24)
//	                                   └─ veth ── host namespace h3 …
//
// Each host has its own lab prefix (Names), hence its own router and instance namespaces:
// two hosts' routers for one VPC never share a name. Namespaces are flat; "inside a host" is
// only naming. The underlay carries UnderlayMTU, so that instances keep InstanceMTU.

// UnderlayNet is the testbed's underlay: TEST-NET-1 (RFC 5737), which no real network routes.
var UnderlayNet = netip.MustParsePrefix("192.0.2.0/24")

// SimHost is one simulated host of a Testbed.
type SimHost struct {
	Name      string // the host's name, as placement names it ("h1")
	Names     Names  // the host's lab prefix: its routers and instances
	Namespace string // the host namespace: the underlay address and the tunnels' sockets
	Underlay  netip.Addr
}

// Testbed is a fabric and the simulated hosts on it.
type Testbed struct {
	Prefix string // every namespace of the testbed starts with it
	Fabric string // the fabric namespace, which holds the bridge
	Hosts  []SimHost
}

// fabricBridge is the bridge's name inside the fabric namespace; underlayLink the host end of
// a host's veth inside the host namespace.
const (
	fabricBridge = "fabric"
	underlayLink = "underlay"
)

// NewTestbed makes a fabric and n hosts named h1…hn with underlay addresses .1….n of
// UnderlayNet. prefix (1 to 3 characters, unique to the caller: a test's random one) starts
// every namespace's name; host i's lab prefix is prefix+"h"+i. On failure what was made is
// removed.
func NewTestbed(ctx context.Context, prefix string, n int) (tb *Testbed, err error) {
	if len(prefix) == 0 || len(prefix) > 3 || n < 1 || n > 9 {
		return nil, fmt.Errorf("testbed %q with %d hosts: the prefix must have 1 to 3 characters, and hosts be 1 to 9", prefix, n)
	}
	tb = &Testbed{Prefix: prefix, Fabric: prefix + "-fabric"}
	defer func() {
		if err != nil {
			err = errors.Join(err, tb.Close(context.WithoutCancel(ctx)))
			tb = nil
		}
	}()
	if err := create(tb.Fabric); err != nil {
		return tb, err
	}
	fh, err := handle(tb.Fabric)
	if err != nil {
		return tb, err
	}
	defer fh.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: fabricBridge, MTU: UnderlayMTU}}
	if err := fh.LinkAdd(br); err != nil {
		return tb, fmt.Errorf("fabric bridge: %w", err)
	}
	if err := fh.LinkSetUp(br); err != nil {
		return tb, err
	}
	a := UnderlayNet.Addr()
	for i := 1; i <= n; i++ {
		a = a.Next()
		h := SimHost{Name: fmt.Sprintf("h%d", i), Names: Names{Prefix: fmt.Sprintf("%sh%d", prefix, i)}, Underlay: a}
		h.Namespace = h.Names.Prefix + "-host"
		tb.Hosts = append(tb.Hosts, h)
		if err := ctx.Err(); err != nil {
			return tb, err
		}
		if err := tb.plug(fh, br, h); err != nil {
			return tb, fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	return tb, nil
}

// plug makes a host's namespace and its veth to the fabric bridge, with its underlay address.
func (tb *Testbed) plug(fh *netlink.Handle, br netlink.Link, h SimHost) error {
	if err := create(h.Namespace); err != nil {
		return err
	}
	hn, err := netns.GetFromPath(Path(h.Namespace))
	if err != nil {
		return err
	}
	defer hn.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: h.Name, MTU: UnderlayMTU, MasterIndex: br.Attrs().Index},
		PeerName: underlayLink, PeerNamespace: netlink.NsFd(int(hn))}
	if err := fh.LinkAdd(veth); err != nil {
		return err
	}
	l, err := fh.LinkByName(h.Name)
	if err != nil {
		return err
	}
	if err := fh.LinkSetUp(l); err != nil {
		return err
	}
	hh, err := handle(h.Namespace)
	if err != nil {
		return err
	}
	defer hh.Close()
	for _, name := range []string{"lo", underlayLink} {
		l, err := hh.LinkByName(name)
		if err != nil {
			return err
		}
		if err := hh.LinkSetUp(l); err != nil {
			return err
		}
	}
	ul, err := hh.LinkByName(underlayLink)
	if err != nil {
		return err
	}
	return hh.AddrAdd(ul, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(h.Underlay, UnderlayNet.Bits()))})
}

// Host returns the host of that name; it panics on a name the testbed does not have (a
// test's mistake).
func (tb *Testbed) Host(name string) SimHost {
	for _, h := range tb.Hosts {
		if h.Name == name {
			return h
		}
	}
	panic("netlab: testbed has no host " + name)
}

// Internet is the testbed's one internet namespace, which every host's routers link to
// (host.Placement.Internet): one server "on the internet" is reachable from every host, and
// each public address is routed to the router of the host that holds it. It is made by the
// first router that links to it, and Close removes it with the rest.
func (tb *Testbed) Internet() string { return Names{Prefix: tb.Prefix}.Internet() }

// Underlays maps each host's name to its underlay address: what a planner needs of them.
func (tb *Testbed) Underlays() map[string]netip.Addr {
	out := map[string]netip.Addr{}
	for _, h := range tb.Hosts {
		out[h.Name] = h.Underlay
	}
	return out
}

// Close removes every namespace of the testbed (hosts, fabric, and the routers and instances
// of the hosts' lab prefixes), with the processes in them.
func (tb *Testbed) Close(ctx context.Context) error {
	nss, err := List(tb.Prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range nss {
		errs = append(errs, Remove(ctx, ns))
	}
	return errors.Join(errs...)
}

// Overlay is the VXLAN device of a VPC's router on this host.
func (h SimHost) Overlay(vpc string) Overlay {
	return Overlay{Host: h.Namespace, Link: h.Names.Overlay(vpc), VNI: VNI(vpc), Local: h.Underlay,
		MAC: OverlayMAC(h.Name, vpc), MTU: InstanceMTU}
}

// Peer is this host as the other hosts' routers of a VPC see it, holding addrs.
func (h SimHost) Peer(vpc string, addrs ...netip.Addr) Peer {
	return Peer{Underlay: h.Underlay, MAC: OverlayMAC(h.Name, vpc), Addrs: addrs}
}
