package control

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/store"
)

// The public address pool hands out the public IPv4 addresses of every account: Elastic IPs,
// the public addresses of instances launched with one, and through them NAT gateways'. Public
// addresses are unique across accounts (two accounts may use the same VPC CIDR; their public
// addresses never collide), so the pool is the one piece of server-wide state in the control
// service, beside the per-tenant records.
//
// DefaultPublicPool is 198.18.0.0/15, the block RFC 2544 (and RFC 6815) reserves for
// benchmarking network devices: it is not routed on the internet, so a lab's "public"
// addresses can never shadow a real host's, and it is rarely used on private networks, unlike
// RFC 1918 space (which VPC CIDRs take) or 100.64.0.0/10 (carrier-grade NAT, often on the
// host's own uplink). `stockade server --public-pool CIDR` picks another range.
//
// Persistence: one store key per address taken, "pool/<address>", holding its owner. It is
// written in the same transaction as the tenant record that takes the address (an Elastic IP,
// an interface), so a restart finds exactly the addresses that committed records hold.
//
// Concurrency: tenants write under their own locks, so the pool has its own. An address is
// marked taken in memory when a transaction stages it, and freed again if that transaction is
// rolled back (nobody else can have taken a taken address, so the undo is safe). A released
// address is freed in memory only after the releasing transaction was submitted: were it freed
// at once, another tenant could take it and a rollback of the release (DryRun, a refused
// commit) would give one address to two owners. Store commits keep submission order, so the
// release is on disk before any later transaction that takes the address again.

// DefaultPublicPool is the public address pool when none is configured (see above).
var DefaultPublicPool = netip.MustParsePrefix("198.18.0.0/15")

const poolKeyPrefix = "pool/"

// poolAccountPrefix keys, on a shared store, each account's count of public addresses:
// "pool/account/<account>". Under the pool's prefix so that one List reads the addresses
// and the counts at one revision.
const poolAccountPrefix = poolKeyPrefix + "account/"

// poolAccount is the value of an account's count key: the addresses it holds, all regions.
type poolAccount struct {
	Addresses int `json:"addresses"`
}

// poolRecord is the store value of one taken address: which tenant holds it and through what
// (an allocation ID for an Elastic IP, an interface ID for a launch-time public address).
type poolRecord struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	Holder  string `json:"holder"`
}

// publicPool is the in-memory state of the pool. The zero value is not usable; see newPool.
type publicPool struct {
	prefix netip.Prefix
	first  netip.Addr // the lowest address handed out
	last   netip.Addr // the highest

	mu    sync.Mutex
	taken map[netip.Addr]poolRecord
	hint  netip.Addr // no address below it is free
	// held counts each account's addresses, across its regions: one account may hold at most
	// perAccount of them, so that no tenant can empty the pool that every account draws from.
	held       map[string]int
	perAccount int
	// counted is, on a shared store, the mod revision of each account's count key when held
	// was last exact for it (0: the key does not exist); unknownCount when a reload replaced
	// the pool under a transaction in flight. See countAccount.
	counted map[string]int64
	// stored is, per account, how many of the pool's records it held at the revision the
	// pool was read (and after this server's own commits since): the value its count key gets
	// next, plus or minus the committing transaction's addresses.
	stored map[string]int
	// gen counts replace calls, so that a commit can tell its marks may have been dropped.
	gen uint64
}

// unknownCount is a revision no key has: a commit conditional on it always fails.
const unknownCount = -1

// newPool makes an empty pool over prefix, which must be IPv4 and at least a /29. The
// network address, the first host address and the broadcast address are never handed out:
// the first host address (198.18.0.1 by default) is the internet side's own, where the host
// and `stockade lab internet` reach public addresses from.
func newPool(prefix netip.Prefix) (*publicPool, error) {
	if !prefix.IsValid() || !prefix.Addr().Is4() || prefix.Bits() > 29 || prefix != prefix.Masked() {
		return nil, fmt.Errorf("public pool %s: want an IPv4 CIDR of at least /29 with no host bits set", prefix)
	}
	last := broadcast(prefix).Prev()
	first := prefix.Addr().Next().Next()
	return &publicPool{prefix: prefix, first: first, last: last, taken: map[netip.Addr]poolRecord{}, hint: first, held: map[string]int{}, counted: map[string]int64{}, stored: map[string]int{}}, nil
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= 1<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// usable reports whether the pool may hand a out.
func (p *publicPool) usable(a netip.Addr) bool {
	return a.Is4() && p.prefix.Contains(a) && p.first.Compare(a) <= 0 && a.Compare(p.last) <= 0
}

// Why take refuses.
type takeRefusal int

const (
	taken       takeRefusal = iota + 1 // want is taken or outside the pool
	poolEmpty                          // no address is free
	accountFull                        // the account holds perAccount addresses already
)

// take marks the lowest free address taken by r, or the address want when it is valid, or
// says why it cannot.
func (p *publicPool) take(want netip.Addr, r poolRecord) (netip.Addr, takeRefusal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.perAccount > 0 && p.held[r.Account] >= p.perAccount {
		return netip.Addr{}, accountFull
	}
	if want.IsValid() {
		if _, held := p.taken[want]; held || !p.usable(want) {
			return netip.Addr{}, taken
		}
		p.mark(want, r)
		return want, 0
	}
	for a := p.hint; a.IsValid() && a.Compare(p.last) <= 0; a = a.Next() {
		if _, held := p.taken[a]; !held {
			p.mark(a, r)
			p.hint = a.Next()
			return a, 0
		}
	}
	p.hint = p.last.Next()
	return netip.Addr{}, poolEmpty
}

// mark records a as taken by r; p.mu is held.
func (p *publicPool) mark(a netip.Addr, r poolRecord) {
	p.taken[a] = r
	p.held[r.Account]++
}

// free returns a to the pool.
func (p *publicPool) free(a netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.taken[a]; ok {
		if p.held[r.Account]--; p.held[r.Account] <= 0 {
			delete(p.held, r.Account)
		}
	}
	delete(p.taken, a)
	if p.usable(a) && a.Compare(p.hint) < 0 {
		p.hint = a
	}
}

// replace takes fresh's addresses as the pool's own: a shared store's, read again after a
// conflict (shared.go). A transaction of this server still in flight may lose its mark; its
// commit is conditional on the address being free in the store, so that costs it a retry,
// never a second owner.
func (p *publicPool) replace(fresh *publicPool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.taken, p.held, p.hint, p.counted, p.stored = fresh.taken, fresh.held, fresh.hint, fresh.counted, fresh.stored
	p.gen++
}

// holder returns who holds a.
func (p *publicPool) holder(a netip.Addr) (poolRecord, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.taken[a]
	return r, ok
}

// load marks a stored address taken, or notes the revision of an account's count key. An
// address outside the pool (the range was changed since) stays held by its owner until
// released; the pool just never hands it out again.
func (p *publicPool) load(kv store.KV) error {
	if acct, ok := strings.CutPrefix(kv.Key, poolAccountPrefix); ok {
		p.counted[acct] = kv.ModRevision // the count itself is the addresses' own
		return nil
	}
	a, err := netip.ParseAddr(strings.TrimPrefix(kv.Key, poolKeyPrefix))
	if err != nil || !a.Is4() {
		return fmt.Errorf("malformed pool key %q", kv.Key)
	}
	r, err := decode[poolRecord](kv.Value)
	if err != nil {
		return err
	}
	p.mark(a, *r)
	p.stored[r.Account]++
	return nil
}

func poolKey(a netip.Addr) string { return poolKeyPrefix + a.String() }

// takePublic takes a public address for holder in this transaction (want: that one, if it is
// free): staged with the tenant's records, freed again if the transaction is rolled back.
func (tx *tx) takePublic(holder string, want netip.Addr) (netip.Addr, error) {
	pool := tx.s.pool
	a, refused := pool.take(want, poolRecord{Account: tx.tn.key.Account, Region: tx.tn.key.Region, Holder: holder})
	switch refused {
	case taken:
		return netip.Addr{}, model.InvalidAddressNotFound.New(want)
	case poolEmpty:
		// [UNCONFIRMED] EC2 answers an exhausted address pool with InsufficientAddressCapacity;
		// the wording is Stockade's.
		return netip.Addr{}, model.InsufficientAddressCapacity.Errorf("There are no free public IPv4 addresses in the pool %s.", pool.prefix)
	case accountFull:
		tx.countRefused = true // on a shared store, a refusal stands only on a current count
		// Stockade's own limit (--quota public-ips-per-account): AWS's pool has no bottom a
		// tenant could reach; a lab's is one range shared by every account.
		return netip.Addr{}, model.AddressLimitExceeded.Errorf("The maximum number of public IPv4 addresses for this account (%d, in all regions) has been reached.", pool.perAccount)
	}
	tx.undo = append(tx.undo, func() { pool.free(a) })
	tx.taken = append(tx.taken, poolKey(a))
	tx.countAccount(+1)
	tx.stageKey(poolKey(a), &poolRecord{Account: tx.tn.key.Account, Region: tx.tn.key.Region, Holder: holder})
	return a, nil
}

// releasePublic returns a to the pool when this transaction commits (see the pool's
// concurrency note).
func (tx *tx) releasePublic(a netip.Addr) {
	if !a.IsValid() {
		return
	}
	tx.stageKey(poolKey(a), nil)
	tx.released = append(tx.released, a)
	tx.countAccount(-1)
}
