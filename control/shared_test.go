package control

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/store"
)

// openShared opens n services on one store, each as an API server of a shared store.
func openShared(t *testing.T, st store.Store, n int, configure ...func(*Config)) []*Service {
	t.Helper()
	out := make([]*Service, n)
	for i := range out {
		cfg := DefaultConfig()
		cfg.Shared = true
		for _, f := range configure {
			f(&cfg)
		}
		s, err := Open(context.Background(), st, cfg)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = s
	}
	return out
}

func groupIDs(t *testing.T, s *Service, tn Tenant) map[string]string {
	t.Helper()
	ids := map[string]string{}
	err := s.View(context.Background(), tn, func(v View) error {
		for _, g := range v.Groups() {
			ids[g.Name] = g.ID
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestSharedReadsSeeOtherServersWrites: what one server acknowledged, the other shows and
// builds on — a group created on A is described on B, a rule authorized on B (whose memory
// was behind: the commit's condition fails, B loads the tenant and runs the request again)
// is seen on A; the default VPC is the same on both once one of them wrote.
func TestSharedReadsSeeOtherServersWrites(t *testing.T) {
	ctx := context.Background()
	ss := openShared(t, tempBolt(t), 2)
	a, b := ss[0], ss[1]
	if err := b.View(ctx, alice, func(View) error { return nil }); err != nil { // B sees the tenant first, unwritten
		t.Fatal(err)
	}
	g, _, err := a.CreateGroup(ctx, alice, CreateGroupInput{Name: "web", Description: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if got := groupIDs(t, b, alice)["web"]; got != g.ID {
		t.Fatalf("B shows web as %q, A created %s", got, g.ID)
	}
	if _, _, err := b.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: g.ID}, Permissions: []Permission{ssh("10.0.0.0/8")}}); err != nil {
		t.Fatal(err)
	}
	err = a.View(ctx, alice, func(v View) error {
		gg, err := v.Group(g.ID)
		if err != nil {
			return err
		}
		if len(gg.Ingress) != 1 {
			return fmt.Errorf("A shows %d ingress rules after B's authorize, want 1", len(gg.Ingress))
		}
		if va, vb := v.DefaultVPC(), defaultVPCOf(t, b); va == nil || va.ID != vb {
			return fmt.Errorf("default VPC: A %v, B %s", va, vb)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A failed write answers from current memory too: B deletes the group, then A's
	// authorize on it is InvalidGroup.NotFound, not a rule on a group that is gone.
	if _, _, err := b.DeleteGroup(ctx, alice, DeleteGroupInput{Group: GroupRef{ID: g.ID}}); err != nil {
		t.Fatal(err)
	}
	_, _, err = a.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: g.ID}, Permissions: []Permission{ssh("10.0.0.0/8")}})
	if code(err) != "InvalidGroup.NotFound" {
		t.Fatalf("authorize on a group deleted by B: %v, want InvalidGroup.NotFound", err)
	}
}

func defaultVPCOf(t *testing.T, s *Service) string {
	t.Helper()
	var id string
	if err := s.View(context.Background(), alice, func(v View) error { id = v.DefaultVPC().ID; return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSharedConcurrentWritesSerialise: two servers creating groups in one tenant at once
// lose nothing and break no invariant — every acknowledged group exists on both, and of two
// creates of one name exactly one succeeds, the other gets InvalidGroup.Duplicate.
func TestSharedConcurrentWritesSerialise(t *testing.T) {
	ctx := context.Background()
	ss := openShared(t, tempBolt(t), 2)
	const n = 20
	var mu sync.Mutex
	created := map[string]string{} // name → ID, acknowledged
	dups := 0
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range n {
				for _, name := range []string{fmt.Sprintf("own-%d-%d", i, j), fmt.Sprintf("both-%d", j)} {
					g, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: name, Description: "d"})
					mu.Lock()
					switch {
					case err == nil:
						if prev, ok := created[name]; ok {
							t.Errorf("%s created twice: %s and %s", name, prev, g.ID)
						}
						created[name] = g.ID
					case code(err) == "InvalidGroup.Duplicate":
						dups++
					default:
						t.Errorf("create %s: %v", name, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if dups != n {
		t.Errorf("%d duplicate refusals, want %d (one per shared name)", dups, n)
	}
	for i, s := range ss {
		got := groupIDs(t, s, alice)
		for name, id := range created {
			if got[name] != id {
				t.Errorf("server %d shows %s as %q, acknowledged as %s", i, name, got[name], id)
			}
		}
		if len(got) != len(created)+1 { // and the default group
			t.Errorf("server %d shows %d groups, want %d", i, len(got), len(created)+1)
		}
	}
}

// TestSharedPublicAddressesUnique: two servers allocating Elastic IPs for different accounts
// at once never hand one address to two owners (the pool's keys are taken on condition).
func TestSharedPublicAddressesUnique(t *testing.T) {
	ctx := context.Background()
	ss := openShared(t, tempBolt(t), 2)
	bob := Tenant{Account: "444455556666", Region: "us-east-1"}
	var mu sync.Mutex
	owner := map[netip.Addr]string{}
	var wg sync.WaitGroup
	for i, tn := range []Tenant{alice, bob} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 4 {
				a, _, err := ss[i].AllocateAddress(ctx, tn, AllocateAddressInput{})
				if err != nil {
					t.Errorf("allocate for %s: %v", tn.Account, err)
					return
				}
				mu.Lock()
				if prev, ok := owner[a.PublicIP]; ok {
					t.Errorf("%s given to %s and %s", a.PublicIP, prev, tn.Account)
				}
				owner[a.PublicIP] = tn.Account
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestSharedPublicAddressQuota: the per-account quota of public addresses holds across
// servers and regions. B, whose memory has none of the account's addresses, is refused
// AddressLimitExceeded (and changes nothing) once A allocated the quota in another region
// at addresses B would not have collided with; an address released on A is allocated on B,
// whose count was behind; and allocations racing from both servers in two regions never put
// the account past its quota, the count key agreeing with the addresses the store holds.
func TestSharedPublicAddressQuota(t *testing.T) {
	ctx := context.Background()
	st := tempBolt(t)
	ss := openShared(t, st, 2, func(c *Config) { c.Quotas.PublicIPsPerAccount = 3 })
	a, b := ss[0], ss[1]
	west := Tenant{Account: alice.Account, Region: "us-west-2"}
	var held []*model.Address
	for _, ip := range []string{"198.18.1.1", "198.18.1.2", "198.18.1.3"} {
		addr, _, err := a.AllocateAddress(ctx, alice, AllocateAddressInput{Address: ip})
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, addr)
	}
	_, _, err := b.AllocateAddress(ctx, west, AllocateAddressInput{})
	eniCheckErr(t, err, "AddressLimitExceeded", "for this account (3, in all regions)")
	if n := storedAddresses(t, st, alice.Account); n != 3 {
		t.Fatalf("after the refusal the store holds %d of the account's addresses, want 3", n)
	}
	if _, err := a.ReleaseAddress(ctx, alice, ReleaseAddressInput{AddressRef: AddressRef{AllocationID: held[0].AllocationID}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.AllocateAddress(ctx, west, AllocateAddressInput{}); err != nil {
		t.Fatalf("allocation on B after a release on A: %v", err)
	}
	_, _, err = a.AllocateAddress(ctx, alice, AllocateAddressInput{})
	eniCheckErr(t, err, "AddressLimitExceeded", "")

	// Release two, then race: four writers on two servers in two regions.
	for _, addr := range held[1:] {
		if _, err := a.ReleaseAddress(ctx, alice, ReleaseAddressInput{AddressRef: AddressRef{AllocationID: addr.AllocationID}}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	won := 0
	var wg sync.WaitGroup
	for _, s := range ss {
		for _, tn := range []Tenant{alice, west} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 3 {
					_, _, err := s.AllocateAddress(ctx, tn, AllocateAddressInput{})
					var me *model.Error
					switch {
					case err == nil:
						mu.Lock()
						won++
						mu.Unlock()
					case errors.As(err, &me) && me.Code == model.AddressLimitExceeded.Name:
					default:
						t.Errorf("allocate on %s: %v", tn.Region, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	if won != 2 {
		t.Errorf("%d allocations succeeded with 2 addresses left of the quota", won)
	}
	if n := storedAddresses(t, st, alice.Account); n != 3 {
		t.Errorf("the store holds %d of the account's addresses, quota 3", n)
	}
	kv, ok, err := st.Get(ctx, poolAccountPrefix+alice.Account)
	if err != nil || !ok {
		t.Fatalf("count key: %v %v", ok, err)
	}
	c, err := decode[poolAccount](kv.Value)
	if err != nil || c.Addresses != 3 {
		t.Errorf("count key says %+v (%v), want 3 addresses", c, err)
	}
}

// storedAddresses counts the pool records the store holds for account.
func storedAddresses(t *testing.T, st store.Store, account string) int {
	t.Helper()
	kvs, _, err := st.List(context.Background(), poolKeyPrefix)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, kv := range kvs {
		if strings.HasPrefix(kv.Key, poolAccountPrefix) {
			continue
		}
		r, err := decode[poolRecord](kv.Value)
		if err != nil {
			t.Fatal(err)
		}
		if r.Account == account {
			n++
		}
	}
	return n
}

// failingTxnStore fails every Txn with a store error (quorum lost) while failing is set.
type failingTxnStore struct {
	store.Store
	mu      sync.Mutex
	failing bool
}

func (f *failingTxnStore) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	f.mu.Lock()
	failing := f.failing
	f.mu.Unlock()
	if failing {
		return 0, errors.New("injected: etcd: request timed out")
	}
	return f.Store.Txn(ctx, conds, ops)
}

// TestSharedStoreFailureIsUnavailable: a commit whose outcome the store cannot tell is
// ServiceUnavailable, changes nothing in memory, and does not stop the server: once the
// store answers again, writes work.
func TestSharedStoreFailureIsUnavailable(t *testing.T) {
	ctx := context.Background()
	st := &failingTxnStore{Store: tempBolt(t)}
	s := openShared(t, st, 1)[0]
	st.failing = true
	_, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "web", Description: "d"})
	if code(err) != model.ServiceUnavailable.Name {
		t.Fatalf("create with the store failing: %v, want ServiceUnavailable", err)
	}
	if _, ok := groupIDs(t, s, alice)["web"]; ok {
		t.Fatal("a write the store did not confirm is shown")
	}
	st.mu.Lock()
	st.failing = false
	st.mu.Unlock()
	if _, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "web", Description: "d"}); err != nil {
		t.Fatalf("create after the store recovered: %v", err)
	}
}

// TestSharedFeedFollowsOtherServers: the host feed of a server (what an agent enforces)
// follows another server's writes — once B's Watch reports the revision of A's authorize,
// B's Networks has the rule, in a tenant B never served a request for.
func TestSharedFeedFollowsOtherServers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ss := openShared(t, tempBolt(t), 2)
	a, b := ss[0], ss[1]
	revs := b.Watch(ctx)
	g, res := webWithRule(ctx, t, a)
	for rev := range revs {
		if rev >= res.Revision {
			break
		}
	}
	if _, nets := b.Networks(); !hasOneRule(nets, g) {
		t.Fatalf("B's Networks after revision %d: no group %s with its rule (%d networks)", res.Revision, g, len(nets))
	}
}

// webWithRule creates alice's group web on s with one ingress rule, and returns its ID and
// the rule's result.
func webWithRule(ctx context.Context, t *testing.T, s *Service) (string, Result) {
	t.Helper()
	g, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "web", Description: "web"})
	if err != nil {
		t.Fatal(err)
	}
	_, res, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: g.ID}, Permissions: []Permission{ssh("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	return g.ID, res
}

// hasOneRule reports whether a group is in nets with one ingress rule.
func hasOneRule(nets []netmap.Network, group string) bool {
	for _, n := range nets {
		for _, g := range n.Groups {
			if g.ID == group && len(g.Ingress) == 1 {
				return true
			}
		}
	}
	return false
}

// TestSharedFeedCatchesUpWritesBeforeWatch: writes another server commits after B opened but
// before B's Watch began are in B's Networks too. An agent opens its service, registers its
// host and only then starts watching; an instance placed on the host in between must not be
// lost (it was: the feed watched from "now" and B never loaded the tenant). A later write to
// another tenant is the point by which B's feed has caught up.
func TestSharedFeedCatchesUpWritesBeforeWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ss := openShared(t, tempBolt(t), 2)
	a, b := ss[0], ss[1]
	g, _ := webWithRule(ctx, t, a)
	revs := b.Watch(ctx)
	later := Tenant{Account: "444455556666", Region: alice.Region}
	_, res, err := a.CreateGroup(ctx, later, CreateGroupInput{Name: "later", Description: "later"})
	if err != nil {
		t.Fatal(err)
	}
	for rev := range revs {
		if rev >= res.Revision {
			break
		}
	}
	if _, nets := b.Networks(); !hasOneRule(nets, g) {
		t.Fatalf("B's Networks after its watch began: no group %s with its rule, written before (%d networks)", g, len(nets))
	}
}

// slowGets counts the store's Gets and makes each take a while, as a read through etcd's
// quorum does.
type slowGets struct {
	store.Store
	mu   sync.Mutex
	gets int
}

func (s *slowGets) Get(ctx context.Context, key string) (store.KV, bool, error) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	time.Sleep(5 * time.Millisecond)
	return s.Store.Get(ctx, key)
}

// TestSharedReadsShareVersionReads: fifty concurrent reads on B each see the group A created
// before they began, and share a handful of version reads rather than one each.
func TestSharedReadsShareVersionReads(t *testing.T) {
	ctx := context.Background()
	st := &slowGets{Store: tempBolt(t)}
	ss := openShared(t, st, 2)
	a, b := ss[0], ss[1]
	if err := b.View(ctx, alice, func(View) error { return nil }); err != nil {
		t.Fatal(err)
	}
	g, _, err := a.CreateGroup(ctx, alice, CreateGroupInput{Name: "web", Description: "d"})
	if err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	st.gets = 0
	st.mu.Unlock()
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := b.View(ctx, alice, func(v View) error { _, err := v.Group(g.ID); return err })
			if err != nil {
				t.Errorf("a read after A's create: %v", err)
			}
		}()
	}
	wg.Wait()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gets >= 25 {
		t.Errorf("50 concurrent reads made %d version reads; want them shared", st.gets)
	}
}
