package host

// A change to interfaces alone — a group joined or left, a rule added (no interface changed
// at all), an address added — leaves every instance, VPC and subnet the same object (the model
// is copy-on-write). Such a change is planned from what the last full walk of the networks
// saw: only the instances whose interfaces changed are planned again, and the routers are
// planned as always (their routing and rendering are incremental already). The full walk
// read every instance and built its indexes of every interface, subnet and instance on every
// change: at 1,000 instances the largest part of a reconcile, and on a busy host a few
// milliseconds of a membership change's latency (BENCHMARKS.md, "an interface's groups as
// data").
//
// It applies on a single host (the zero Placement): on one host of several, which instances
// run here also depends on where the others are, and every change takes the full walk.

import (
	"maps"
	"reflect"
	"slices"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// walk is what the last full walk saw of every network, in the order given.
type walk struct {
	nets    []walkedNet
	stopped map[string]bool
}

// walkedNet is one network as the last full walk saw it. The slices are copies: the caller's
// may be reused.
type walkedNet struct {
	tenant    netmap.Tenant
	vpcs      []*model.VPC
	subnets   []*model.Subnet
	instances []*model.Instance
	enis      []*model.NetworkInterface
	idx       routingIndex
	indexed   bool                       // idx.instances holds the instances
	owner     map[string]*model.Instance // an interface ID → the instance planned with it
	routers   []string                   // the VPCs whose routers were planned, in order
}

// walked records network i as the full walk just planned it, taking the scratch's indexes
// (and leaving it the ones they replace, to be cleared for the next network).
func (c *Cache) walked(i int, n netmap.Network, sc *scratch, routers []string, indexed bool, place Placement) {
	if c == nil || place.On() {
		return
	}
	if c.walk == nil {
		c.walk = &walk{}
	}
	w := &c.walk.nets
	if i == len(*w) {
		*w = append(*w, walkedNet{})
	}
	wn := &(*w)[i]
	wn.tenant = n.Tenant
	wn.vpcs = append(wn.vpcs[:0], n.VPCs...)
	wn.subnets = append(wn.subnets[:0], n.Subnets...)
	wn.instances = append(wn.instances[:0], n.Instances...)
	wn.enis = append(wn.enis[:0], n.ENIs...)
	sc.idx, wn.idx = wn.idx, sc.idx
	wn.indexed = indexed
	wn.routers = append(wn.routers[:0], routers...)
	if wn.owner == nil {
		wn.owner = map[string]*model.Instance{}
	}
	clear(wn.owner)
	for _, in := range n.Instances {
		if _, planned := c.nextInst[in]; planned {
			for _, id := range in.InterfaceIDs {
				wn.owner[id] = in
			}
		}
	}
}

// walkedAll ends the full walk's record: n networks, the instances stopped.
func (c *Cache) walkedAll(n int, stopped map[string]bool, place Placement) {
	if c == nil {
		return
	}
	if place.On() || c.walk == nil {
		c.walk = nil
		return
	}
	c.walk.nets = c.walk.nets[:n]
	c.walk.stopped = stopped
}

// replan is PlanPlaced for a change to interfaces alone, when it is one (ok).
func (c *Cache) replan(rev int64, nets []netmap.Network, names netlab.Names, place Placement) (d Desired, ok bool) {
	if c == nil || c.walk == nil || place.On() || len(nets) != len(c.walk.nets) {
		return Desired{}, false
	}
	for i, n := range nets {
		w := &c.walk.nets[i]
		if n.Tenant != w.tenant || len(n.ENIs) != len(w.enis) || !slices.Equal(n.Instances, w.instances) ||
			!slices.Equal(n.VPCs, w.vpcs) || !slices.Equal(n.Subnets, w.subnets) {
			return Desired{}, false
		}
		for j, e := range n.ENIs {
			if e != w.enis[j] && e.ID != w.enis[j].ID {
				return Desired{}, false // one came and another went
			}
		}
	}
	c.replans++
	d = Desired{Rev: rev, Routers: map[string]Router{}, Stopped: c.walk.stopped}
	var replaced map[*model.Instance]*plannedInstance
	sc := &c.scratch
	for i, n := range nets {
		w := &c.walk.nets[i]
		for j, e := range n.ENIs {
			if e == w.enis[j] {
				continue
			}
			w.enis[j] = e
			w.idx.enis[e.ID] = e
			in := w.owner[e.ID]
			if in == nil {
				continue // no instance planned here has it
			}
			p := c.instances[in]
			sc.from = planFrom(in, w.idx, sc.from[:0])
			if slices.Equal(p.from, sc.from) {
				continue // planned already with this interface (another of its changed)
			}
			planned := planInstance(n, in, w.idx.enis, w.idx.subnets, names, 0)
			if reflect.DeepEqual(p.in, planned) {
				p.from = append(p.from[:0], sc.from...) // what the plan reads did not change: its groups did
				continue
			}
			np := &plannedInstance{slices.Clone(sc.from), planned}
			c.instances[in] = np
			if replaced == nil {
				replaced = map[*model.Instance]*plannedInstance{}
			}
			replaced[in] = np
		}
		if len(w.routers) > 0 && !w.indexed {
			for _, x := range n.Instances {
				w.idx.instances[x.ID] = x
			}
			w.indexed = true
		}
		for _, vpc := range w.routers {
			c.planRouter(&d, n, w.idx, vpc, names, place, nil, &sc.rfrom)
		}
	}
	if len(replaced) == 0 {
		d.Instances, d.SameInstances = c.planned, true
		return d, true
	}
	// The Instances handed out before stay as they were: the host compares them with these.
	d.Instances = maps.Clone(c.planned)
	for in, p := range replaced {
		d.Instances[in.ID] = &p.in
	}
	c.planned = d.Instances
	return d, true
}
