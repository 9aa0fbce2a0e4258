package policy

import (
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"

	"go4.org/netipx"
)

// Exposed is what reaches one interface from outside its VPC.
type Exposed struct {
	ENI    string
	VpcID  string
	Grants []Grant
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
// and source addresses outside its VPC (IPv4 and IPv6) whose packets its subnet's network ACL
// and its groups let in. Interfaces with the same groups, ACL and VPC share one computation, and
// the work is spread over the CPUs. The result is ordered by interface ID; interfaces nothing
// reaches have no grants.
func (p *Policy) Exposure() ([]Exposed, error) {
	ids := make([]string, 0, len(p.enis))
	for id := range p.enis {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]Exposed, len(ids))
	type result struct {
		once   sync.Once
		grants []Grant
		err    error
	}
	var mu sync.Mutex
	cache := map[string]*result{}
	work := make(chan int)
	var wg sync.WaitGroup
	var firstErr error
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				f := p.enis[ids[i]]
				key := p.exposureKey(f)
				mu.Lock()
				r := cache[key]
				if r == nil {
					r = &result{}
					cache[key] = r
				}
				mu.Unlock()
				r.once.Do(func() { r.grants, r.err = p.access(f, false, p.outside(f.n.VpcID)) })
				if r.err != nil {
					mu.Lock()
					firstErr = r.err
					mu.Unlock()
				}
				out[i] = Exposed{ENI: f.n.ID, VpcID: f.n.VpcID, Grants: r.grants}
			}
		}()
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
