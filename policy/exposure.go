package policy

import (
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"

	"go4.org/netipx"

	"github.com/stockade/stockade/model"
)

// Exposed is what reaches one interface from the internet.
type Exposed struct {
	ENI   string
	VpcID string
	// PublicIP is the interface's public IPv4 address (invalid for none) and Gateway its VPC's
	// attached internet gateway ("" for none): the way in.
	PublicIP netip.Addr
	Gateway  string
	Grants   []Grant
}

// everything is every IPv4 and IPv6 address.
var everything = func() *netipx.IPSet {
	var b netipx.IPSetBuilder
	b.AddPrefix(netip.MustParsePrefix("0.0.0.0/0"))
	b.AddPrefix(netip.MustParsePrefix("::/0"))
	s, _ := b.IPSet()
	return s
}()

// Exposure answers "what is exposed?" exhaustively: for every interface, the protocols, ports
// and internet addresses (IPv4 and IPv6) whose packets reach it through its VPC's internet
// gateway (route.go: a public address, an attached gateway, a route back to the peer) and
// that its subnet's network ACL and its groups let in. A snapshot without the VPC's route
// tables is judged as before routing was modelled: every address outside the VPC. Interfaces with the same groups, ACL and VPC share one computation, and
// the work is spread over the CPUs. The result is ordered by interface ID; interfaces nothing
// reaches have no grants.
func (p *Policy) Exposure() ([]Exposed, error) {
	return p.exposure(p.ids(), 0)
}

// ExposureOn is Exposure computed on at most workers goroutines (0: one per P; 1: the
// caller's own, on its thread), for a caller that must leave the other CPUs to more urgent
// work.
func (p *Policy) ExposureOn(workers int) ([]Exposed, error) {
	return p.exposure(p.ids(), workers)
}

// ids are the IDs of the interfaces p compiled, sorted.
func (p *Policy) ids() []string {
	ids := make([]string, 0, len(p.enis))
	for id := range p.enis {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// ExposureOf is Exposure for the interfaces ids only, in their order: those of them the
// policy compiled (the others are left out). A continuous audit judges again the interfaces
// a change can reach, from a policy that also compiled the interfaces their paths may start
// from. It computes on at most workers goroutines, as ExposureOn.
func (p *Policy) ExposureOf(ids []string, workers int) ([]Exposed, error) {
	known := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, ok := p.enis[id]; ok {
			known = append(known, id)
		}
	}
	return p.exposure(known, workers)
}

func (p *Policy) exposure(ids []string, workers int) ([]Exposed, error) {
	out := make([]Exposed, len(ids))
	type result struct {
		once   sync.Once
		grants []Grant
		err    error
	}
	var mu sync.Mutex
	cache := map[string]*result{}
	var firstErr error
	judge := func(i int) {
		f := p.enis[ids[i]]
		if f.inet != nil && empty(f.inet.in.set) {
			// Routing lets no internet address in (no public address, or no route back):
			// every grant would be cut to nothing, so none is computed.
			out[i] = Exposed{ENI: f.n.ID, VpcID: f.n.VpcID, PublicIP: p.routing.public[f.n.ID], Gateway: p.routing.igw[f.n.VpcID]}
			return
		}
		key := p.exposureKey(f)
		mu.Lock()
		r := cache[key]
		if r == nil {
			r = &result{}
			cache[key] = r
		}
		mu.Unlock()
		r.once.Do(func() {
			scope := p.outside(f.n.VpcID)
			if f.inet != nil {
				scope = f.inet.in.set
			}
			r.grants, r.err = p.access(f, false, scope)
		})
		if r.err != nil {
			mu.Lock()
			firstErr = r.err
			mu.Unlock()
		}
		out[i] = Exposed{ENI: f.n.ID, VpcID: f.n.VpcID, PublicIP: p.routing.public[f.n.ID], Gateway: p.routing.igw[f.n.VpcID], Grants: r.grants}
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers == 1 { // on the caller's goroutine (and thread: the server's audit runs on one of lower priority)
		for i := range ids {
			judge(i)
		}
		return out, firstErr
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range work {
				judge(i)
			}
		})
	}
	for i := range ids {
		work <- i
	}
	close(work)
	wg.Wait()
	return out, firstErr
}

// exposureKey identifies everything the exposure of an interface depends on.
func (p *Policy) exposureKey(f *iface) string {
	var b strings.Builder
	b.WriteString(f.n.VpcID)
	if f.inet != nil {
		// Interfaces share an index exactly when they share subnet and public addressing.
		fmt.Fprintf(&b, "|inet %p", f.inet)
	}
	if acl := p.nacls[f.n.SubnetID]; acl != nil {
		b.WriteString("|" + acl.acl.ID)
	}
	for _, g := range f.groups {
		b.WriteString("|" + g.ID)
	}
	return b.String()
}

// outside is every address that is not in the VPC's blocks.
func (p *Policy) outside(vpc string) *netipx.IPSet {
	var b netipx.IPSetBuilder
	b.AddSet(everything)
	if v := p.vpcs[vpc]; v != nil {
		b.RemoveSet(v)
	}
	s, _ := b.IPSet()
	return s
}

// Internet explains how a flow between interface eni and internet address remote is routed
// (inbound: a connection opened by remote). known is false when the snapshot has none of the
// VPC's route tables, or no such interface.
func (p *Policy) Internet(eni string, remote netip.Addr, inbound bool) (r Routing, known bool) {
	f := p.enis[eni]
	if f == nil || f.inet == nil {
		return Routing{}, false
	}
	return p.routing.internet(f.n, remote, inbound), true
}

// InternetGateway is VPC vpc's attached internet gateway, "" for none.
func (p *Policy) InternetGateway(vpc string) string { return p.routing.igw[vpc] }

// PublicIP is interface eni's public IPv4 address (an Elastic IP on its primary address
// first), invalid for none.
func (p *Policy) PublicIP(eni string) netip.Addr { return p.routing.public[eni] }

// RouteTable is the ID of the route table subnet uses, "" for none in the snapshot.
func (p *Policy) RouteTable(subnet string) string {
	if t := p.routing.bySubnet[subnet]; t != nil {
		return t.t.ID
	}
	return ""
}

// RouteFor is the route of subnet's table for address a (longest prefix), nil for none.
func (p *Policy) RouteFor(subnet string, a netip.Addr) *model.Route {
	if t := p.routing.bySubnet[subnet]; t != nil {
		return t.lookup(a)
	}
	return nil
}
