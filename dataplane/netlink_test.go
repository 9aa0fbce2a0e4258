package dataplane_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TestKernelNetlinkUpdates: the in-place updates NFT sends over netlink itself leave the
// kernel holding exactly what nft leaves when it runs the same transaction. Two routers start
// from the same replacement; every change goes to one through NFT and to the other through
// nft alone, and the two tables must list the same. The changes are those the netlink path
// exists for (interfaces joining and leaving groups, with and without their own connection
// timeouts and with groups open to everyone; CIDR rules added and revoked, IPv4 and IPv6;
// secondary addresses; Elastic IP associations, moves and disassociations), and each must take it.
func TestKernelNetlinkUpdates(t *testing.T) {
	l := newKernelLab(t)
	viaNFT := l.names.Router("vpc-nft")
	if _, err := netlab.CreateRouter(context.Background(), viaNFT); err != nil {
		t.Fatal(err)
	}
	nftOnly := dataplane.NFT{NSDir: netlab.Dir, NFTOnly: true}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 8))
	g := newGen(rng)
	n := g.vary(g.network())
	n.Link = l.names.Link
	// One group open to everyone (its members' flows may be untracked: more rules in their
	// interface chains), one interface with timeouts of its own.
	groups := slices.Clone(n.Snapshot.Groups)
	open := groups[4].Clone()
	open.Ingress = append(open.Ingress, rule("tcp", 0, 65535, cidr("0.0.0.0/0")))
	open.Egress = []model.Rule{rule("-1", -1, -1, cidr("0.0.0.0/0"))}
	groups[4] = open
	n.Snapshot.Groups = groups
	enis := slices.Clone(n.Snapshot.ENIs)
	e0 := enis[0].Clone()
	e0.ConnTrack = model.ConnTrack{TCPEstablished: 600, UDP: 40, UDPStream: 200}
	enis[0] = e0
	n.Snapshot.ENIs = enis
	// An internet gateway: public addresses come, move and go with Elastic IP associations.
	n.Internet = dataplane.Internet{Link: "stk-up", Public: map[netip.Addr]netip.Addr{}}
	publics := []netip.Addr{netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.3"), netip.MustParseAddr("198.18.7.1")}

	var r dataplane.Renderer
	prev := r.Render(n)
	for _, ns := range []string{l.router, viaNFT} {
		if err := nftOnly.Apply(ctx, ns, prev.Replace()); err != nil {
			t.Fatal(err)
		}
	}
	sent := 0
	defer func() {
		if !t.Failed() && sent < 30 {
			t.Errorf("only %d of 40 changes made a transaction", sent)
		}
	}()
	for i := range 40 {
		var what string
		switch i % 5 {
		case 0, 1:
			k := rng.IntN(len(n.Snapshot.ENIs))
			e := n.Snapshot.ENIs[k].Clone()
			e.Groups = nil
			for _, j := range rng.Perm(5)[:1+rng.IntN(3)] {
				e.Groups = append(e.Groups, fmt.Sprintf("sg-%d", j))
			}
			enis := slices.Clone(n.Snapshot.ENIs)
			enis[k] = e
			n.Snapshot.ENIs = enis
			what = fmt.Sprintf("%s joins %v", e.ID, e.Groups)
		case 2:
			groups := slices.Clone(n.Snapshot.Groups)
			k := rng.IntN(len(groups))
			grp := groups[k].Clone()
			p := cidr(pick(rng, "10.50.1.0/24", "192.0.2.7/32", "2001:db8:50:2::/64", "2001:db8:99::1/128"))
			grp.Ingress = append(grp.Ingress, rule(pick(rng, "tcp", "udp"), int32(1000+i), int32(1000+i+rng.IntN(3)), p))
			if rng.IntN(2) == 0 {
				grp.Egress = append(grp.Egress, rule("udp", 53, 53, p))
			}
			groups[k] = grp
			n.Snapshot.Groups = groups
			what = fmt.Sprintf("%s allows %v", grp.ID, p.CIDR)
		case 3:
			groups := slices.Clone(n.Snapshot.Groups)
			k := rng.IntN(len(groups))
			grp := groups[k].Clone()
			var kept []model.Rule
			for _, rl := range grp.Ingress {
				if !rl.Peer.CIDR.IsValid() || rl.Peer.CIDR.Bits() == 0 || rng.IntN(2) == 0 {
					kept = append(kept, rl)
				}
			}
			grp.Ingress = kept
			groups[k] = grp
			n.Snapshot.Groups = groups
			k = rng.IntN(len(n.Snapshot.ENIs))
			e := n.Snapshot.ENIs[k].Clone()
			a := e.PrivateIP.As4()
			a[3] += byte(100 + i)
			e.SecondaryIPs = append(e.SecondaryIPs, netip.AddrFrom4(a))
			enis := slices.Clone(n.Snapshot.ENIs)
			enis[k] = e
			n.Snapshot.ENIs = enis
			what = fmt.Sprintf("%s revokes CIDR rules, %s gains %s", grp.ID, e.ID, netip.AddrFrom4(a))
		case 4:
			// An Elastic IP associated, moved to another interface or disassociated (the
			// control plane keeps a private address to one public address).
			pub := publics[rng.IntN(len(publics))]
			public := maps.Clone(n.Internet.Public)
			delete(public, pub)
			what = fmt.Sprintf("%s disassociated", pub)
			if rng.IntN(3) > 0 {
				priv := n.Snapshot.ENIs[rng.IntN(len(n.Snapshot.ENIs))].PrivateIP
				for p, q := range public {
					if q == priv {
						delete(public, p)
					}
				}
				public[pub] = priv
				what = fmt.Sprintf("%s associated with %s", pub, priv)
			}
			n.Internet.Public = public
		}
		rs := r.Render(n)
		tx, ok := rs.Update(prev)
		if !ok {
			t.Fatalf("change %d (%s): no in-place update", i, what)
		}
		prev = rs
		if tx == "" {
			continue
		}
		sent++
		if !dataplane.NetlinkCovers(tx) {
			t.Fatalf("change %d (%s): not sent over netlink:\n%s", i, what, tx)
		}
		if err := l.k.Apply(ctx, l.router, tx); err != nil {
			t.Fatalf("change %d (%s): %v\n%s", i, what, err, tx)
		}
		if err := nftOnly.Apply(ctx, viaNFT, tx); err != nil {
			t.Fatalf("change %d (%s): nft: %v\n%s", i, what, err, tx)
		}
		got, err := l.k.List(ctx, l.router)
		if err != nil {
			t.Fatal(err)
		}
		want, err := l.k.List(ctx, viaNFT)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := normalize(got), normalize(want); g != w {
			gl, wl := strings.Split(g, "\n"), strings.Split(w, "\n")
			t.Fatalf("change %d (%s) over netlink differs from nft:\n%s\n--- only over netlink:\n%s\n--- only through nft:\n%s", i, what, tx,
				strings.Join(minus(gl, wl), "\n"), strings.Join(minus(wl, gl), "\n"))
		}
	}
}

// TestNetlinkCoversOnlyWhatItKnows: transactions with anything the netlink path does not
// encode go to nft whole.
func TestNetlinkCoversOnlyWhatItKnows(t *testing.T) {
	for _, tc := range []struct {
		tx   string
		want bool
	}{
		{"add element inet stockade members4_sg_1 { 10.0.0.1, 10.0.0.2 }\n", true},
		{"delete element inet stockade sg_1_in4 { 10.0.0.0/24 . 6 . 80-81 }\n", true},
		{"add element inet stockade sg_1_in6 { 2001:db8::/64 . 0-255 . 0-65535 }\n", true},
		{"add element inet stockade src4 { \"stk1\" . 10.0.0.9 }\n", true},
		{"flush chain inet stockade eni_1_in\nadd rule inet stockade eni_1_in jump sg_1_in\n", true},
		{"add element inet stockade members4_sg_1 { 2001:db8::1 }\n", false},     // wrong family
		{"add element inet stockade sg_1_in4 { 10.0.0.1/24 . 6 . 80 }\n", false}, // not a network address
		{"add element inet stockade out_dispatch { \"stk1\" : jump ifaces_out }\n", true},
		{"delete element inet stockade in_slot4 { \"stk1\" : jump sg_1_in }\n", true},
		{"add element inet stockade out_slot0 { \"stk1\" : accept }\n", false}, // only jumps
		{"add element inet stockade out_slot { \"stk1\" : jump sg_1_out }\n", false},
		{"add element inet stockade nacl_pairs4 { 10.0.0.0/24 . 10.0.1.0/24 : jump nacl_acl_1_out }\n", false},
		{"add element inet stockade in_untracked { \"stk1\" . ipv6 . udp }\n", true},
		{"add element inet stockade in_untracked { \"stk1\" . ipv6 . icmp }\n", false},
		{"add element inet stockade list4_pl_1 { 10.0.0.0/8 }\n", false},
		{"add element inet stockade internet_pub4 { 10.0.0.9 }\n", true},
		{"delete element inet stockade internet_dnat4 { 198.18.0.2 : 10.0.0.9 }\n", true},
		{"add element inet stockade internet_snat4 { 10.0.0.9 : 198.18.0.2 }\n", true},
		{"add element inet stockade internet_pub4 { 10.0.0.8/31 }\n", false},               // a prefix
		{"add element inet stockade internet_dnat4 { 198.18.0.2 : 2001:db8::1 }\n", false}, // wrong family
		{"add element inet stockade internet_nat4 { 10.0.0.0/24 : 198.18.0.2 }\n", false},  // an interval map
		{"add chain inet stockade eni_2_in\n", false},
		{"add rule inet stockade sg_1_in ip saddr @members4_sg_2 udp dport 53 meta mark set meta mark | 0x2 return\n", false},
		{"add rule inet stockade eni_1_in jump sg_1_in counter\n", false},
		{"delete set inet stockade members4_sg_1\n", false},
	} {
		if got := dataplane.NetlinkCovers(tc.tx); got != tc.want {
			t.Errorf("NetlinkCovers(%q) = %v, want %v", tc.tx, got, tc.want)
		}
	}
}

// TestKernelNetlinkBatch: what NFT's netlink batches rely on, checked against a kernel. A
// long chain refill is acknowledged (the kernel echoes every rule it adds, in as many
// datagrams as it takes, before the acknowledgements); a batch with one failing line changes
// nothing, not even the generation, and says why; and the sets are described as the kernel
// holds them (key type and length, concatenation, interval).
func TestKernelNetlinkBatch(t *testing.T) {
	l := newKernelLab(t)
	ctx := context.Background()
	n := threeTier()
	n.Link = l.names.Link
	// An interface with timeouts of its own has chains of its own (eni_eni_1_in), the only
	// chains the netlink path refills.
	web := n.Snapshot.ENIs[0].Clone()
	web.ConnTrack = model.ConnTrack{TCPEstablished: 600, UDP: 40, UDPStream: 200}
	n.Snapshot.ENIs[0] = web
	l.apply(dataplane.Render(n).Replace())

	t.Run("long refill", func(t *testing.T) {
		const rules = 300
		tx := "flush chain inet stockade eni_eni_1_in\n" +
			strings.Repeat("add rule inet stockade eni_eni_1_in meta l4proto udp jump ifaces_in\n", rules)
		if !dataplane.NetlinkCovers(tx) {
			t.Fatal("not sent over netlink")
		}
		l.apply(tx)
		got, err := l.k.List(ctx, l.router)
		if err != nil {
			t.Fatal(err)
		}
		if c := strings.Count(got, "meta l4proto udp jump ifaces_in"); c != rules {
			t.Errorf("%d rules in the chain, want %d", c, rules)
		}
	})

	for _, tc := range []struct{ name, tx, absent string }{
		{"element", "add element inet stockade members4_sg_web { 10.0.9.9 }\n" +
			"delete element inet stockade members4_sg_web { 10.0.9.8 }\n", "10.0.9.9"},
		{"rule", "add element inet stockade members4_sg_web { 10.0.9.9 }\n" +
			"flush chain inet stockade eni_eni_1_in\n" +
			"add rule inet stockade eni_eni_1_in jump no_such_chain\n", "10.0.9.9"},
	} {
		t.Run("fails whole/"+tc.name, func(t *testing.T) {
			if !dataplane.NetlinkCovers(tc.tx) {
				t.Fatal("not sent over netlink")
			}
			before, err := l.k.List(ctx, l.router)
			if err != nil {
				t.Fatal(err)
			}
			gen, err := l.k.Generation(l.router)
			if err != nil {
				t.Fatal(err)
			}
			err = l.k.Apply(ctx, l.router, tc.tx)
			if !errors.Is(err, unix.ENOENT) {
				t.Fatalf("Apply = %v, want an error that is ENOENT", err)
			}
			after, err := l.k.List(ctx, l.router)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("a failed batch changed the table (-before +after):\n%s", diff)
			}
			if g, err := l.k.Generation(l.router); err != nil || g != gen {
				t.Errorf("generation %d (%v) after a failed batch, was %d", g, err, gen)
			}
		})
	}

	t.Run("set descriptions", func(t *testing.T) {
		rich := rich()
		rich.Link = l.names.Link
		rich.Internet = dataplane.Internet{Link: "stk-up", Public: map[netip.Addr]netip.Addr{netip.MustParseAddr("198.18.0.2"): netip.MustParseAddr("10.0.1.10")}}
		l.apply(dataplane.Render(rich).Replace())
		h, err := netns.GetFromPath(netlab.Dir + "/" + l.router)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		c, err := nftables.New(nftables.WithNetNSFd(int(h)))
		if err != nil {
			t.Fatal(err)
		}
		sets, err := c.GetSets(&nftables.Table{Name: "stockade", Family: nftables.TableFamilyINet})
		if err != nil {
			t.Fatal(err)
		}
		type desc struct {
			Key                            string
			Bytes                          uint32
			Concatenation, Interval, IsMap bool
			Data                           string
		}
		kinds := map[string]bool{}
		for _, want := range sets {
			got, ok := dataplane.NetlinkSet(want.Name)
			if !ok {
				continue
			}
			w := desc{want.KeyType.Name, want.KeyType.Bytes, want.Concatenation, want.Interval, want.IsMap, want.DataType.Name}
			if want.KeyType == nftables.TypeVerdict {
				// The library reads a verdict map's data type in place of its key type
				// (google/nftables v0.3.0, setsFromMsg): the key is read from nft's listing.
				w.Key, w.Data = verdictMapKey(t, l.router, want.Name), "verdict"
				w.Bytes = map[string]uint32{"ifname": unix.IFNAMSIZ}[w.Key]
			}
			kinds[strings.TrimRight(strings.SplitN(want.Name, "_", 2)[0], "46")+"/"+w.Key] = true
			g := desc{got.KeyType.Name, got.KeyType.Bytes, got.Concatenation, got.Interval, got.IsMap, got.DataType.Name}
			if diff := cmp.Diff(w, g); diff != "" {
				t.Errorf("%s (-kernel +netlink.go):\n%s", want.Name, diff)
			}
		}
		for _, k := range []string{"members/ipv4_addr", "members/ipv6_addr", "src/ifname . ipv4_addr", "src/ifname . ipv6_addr",
			"sg/ipv4_addr . inet_proto . inet_service", "sg/ipv6_addr . inet_proto . inet_service", "internet/ipv4_addr",
			"out/ifname", "in/ifname", "out/ifname . nf_proto . inet_proto", "in/ifname . nf_proto . inet_proto"} {
			if !kinds[k] {
				t.Errorf("no set of kind %s compared (compared %v)", k, slices.Sorted(maps.Keys(kinds)))
			}
		}
	})
}

// verdictMapKey is the key type of a verdict map, as nft lists it.
func verdictMapKey(t *testing.T, router, name string) string {
	t.Helper()
	out, err := exec.Command("nsenter", "--net="+netlab.Dir+"/"+router, "--", "nft", "list", "map", "inet", "stockade", name).Output()
	if err != nil {
		t.Fatalf("nft list map %s: %v", name, err)
	}
	_, decl, _ := strings.Cut(string(out), "type ")
	key, _, ok := strings.Cut(decl, " : verdict")
	if !ok {
		t.Fatalf("%s is not a verdict map:\n%s", name, out)
	}
	return key
}

// TestKernelNetlinkSocket: NFT keeps one socket per namespace for its transactions and
// generations (closing one after a batch that deleted something made the kernel wait for an
// RCU grace period, holding the namespace's commit mutex). The socket is the same from one
// use to the next; one the kernel refused a transaction on is replaced, and the next
// transaction is answered rightly; a namespace made again under the same name gets its own
// socket, so that changes reach the namespace that is there; and the socket of a namespace
// that is gone is closed.
func TestKernelNetlinkSocket(t *testing.T) {
	defer dataplane.SweepAlways()()
	l := newKernelLab(t)
	n := threeTier()
	n.Link = l.names.Link
	replace := dataplane.Render(n).Replace()
	l.apply(replace)
	ctx := context.Background()
	add := "add element inet stockade members4_sg_web { 10.0.9.9 }\n"
	del := "delete element inet stockade members4_sg_web { 10.0.9.9 }\n"
	if !dataplane.NetlinkCovers(add) || !dataplane.NetlinkCovers(del) {
		t.Fatal("the element changes do not go over netlink")
	}
	gen := func() uint32 {
		t.Helper()
		g, err := l.k.Generation(l.router)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	members := func(ns string) string {
		t.Helper()
		out, err := l.k.List(ctx, ns)
		if err != nil {
			t.Fatal(err)
		}
		_, set, _ := strings.Cut(out, "set members4_sg_web {")
		set, _, _ = strings.Cut(set, "}")
		return strings.Join(strings.Fields(set), " ")
	}

	l.apply(add)
	s := dataplane.SocketOf(l.k, l.router)
	if s == nil {
		t.Fatal("no socket kept after a transaction")
	}
	g0 := gen()
	l.apply(del)
	if g := gen(); g != g0+1 {
		t.Errorf("generation after one more transaction: %d, want %d", g, g0+1)
	}
	if got := dataplane.SocketOf(l.k, l.router); got != s {
		t.Error("the socket changed between transactions")
	}

	// Refused: the element is not there. Nothing changes, and the next answers are right.
	err := l.k.Apply(ctx, l.router, del)
	if !errors.Is(err, unix.ENOENT) {
		t.Fatalf("deleting a missing element: %v, want ENOENT", err)
	}
	if got := dataplane.SocketOf(l.k, l.router); got == s {
		t.Error("the socket a transaction was refused on is still used")
	}
	g1 := gen()
	if g1 != g0+1 {
		t.Errorf("generation after a refused transaction: %d, want %d", g1, g0+1)
	}
	l.apply(add)
	if got := members(l.router); !strings.Contains(got, "10.0.9.9") {
		t.Errorf("members after the refused transaction and an add: %q", got)
	}

	// The router made again under its name: the transaction must reach the new namespace.
	if err := netlab.Remove(ctx, l.router); err != nil {
		t.Fatal(err)
	}
	if _, err := netlab.CreateRouter(ctx, l.router); err != nil {
		t.Fatal(err)
	}
	l.apply(replace)
	if got := members(l.router); strings.Contains(got, "10.0.9.9") {
		t.Fatalf("a fresh table holds %q", got)
	}
	l.apply(add)
	if got := members(l.router); !strings.Contains(got, "10.0.9.9") {
		t.Errorf("the new namespace's members after an add: %q (the change went to the old one?)", got)
	}

	// A second router, used once and removed: its socket is closed at the next use of another.
	other := l.names.Router("vpc-2")
	if _, err := netlab.CreateRouter(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := l.k.Apply(ctx, other, replace); err != nil {
		t.Fatal(err)
	}
	if err := l.k.Apply(ctx, other, del); err == nil {
		t.Fatal("deleting a missing element in the second router succeeded")
	}
	if err := l.k.Apply(ctx, other, add); err != nil {
		t.Fatal(err)
	}
	if dataplane.SocketOf(l.k, other) == nil {
		t.Fatal("no socket kept for the second router")
	}
	if err := netlab.Remove(ctx, other); err != nil {
		t.Fatal(err)
	}
	l.apply(del)
	if dataplane.SocketOf(l.k, other) != nil {
		t.Error("the socket of a removed namespace is still kept")
	}
}
