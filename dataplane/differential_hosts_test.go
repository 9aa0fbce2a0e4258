package dataplane_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/policy"
)

// TestKernelDifferentialAcrossHosts is TestKernelDifferential with the VPC's six interfaces
// spread over three simulated hosts (each subnet on two of them, each host with two subnets):
// every exchange, over IPv4 and IPv6, within a host or across the overlay, must succeed
// exactly when the policy engine admits its first packet and the reply. Each host's router
// enforces only its own interfaces' rules, so the model's verdict holds only if egress at one
// end and ingress at the other add up to what one router would do. Each round replaces every
// host's ruleset with the next random network's by an in-place update, which must list
// exactly like a replacement. STOCKADE_SEED=n replays one seed;
// STOCKADE_ROUNDS sets the number of rounds (default 3).
func TestKernelDifferentialAcrossHosts(t *testing.T) {
	l := newSpanLab(t, 3, "vpc-1")
	seed, rounds := seedAndRounds(t, 3)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	g := newGen(rng)
	base := g.network()
	for i, e := range base.Snapshot.ENIs {
		// 0 h1, 1 h2, 2 h3, 3 h2, 4 h3, 5 h1: subnet i%3 has interfaces on two hosts.
		l.place(e, g.subnetOf(e), l.tb.Hosts[(i/3+i)%3].Name)
		for _, sp := range g.ports {
			srv, err := netlab.Serve(l.ns[e.ID], sp)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Close)
		}
	}
	scratch := l.tb.Hosts[0].Names.Router("vpc-scratch")
	if _, err := netlab.CreateRouter(context.Background(), scratch); err != nil {
		t.Fatal(err)
	}
	port := 30000
	admitted, denied, across := 0, 0, 0
	defer func() {
		t.Logf("%d exchanges admitted (%d of them across hosts), %d denied, kernel and model agreeing", admitted, across, denied)
	}()
	for round := 0; round < rounds; round++ {
		n := g.vary(base)
		rulesets := l.apply(n, true)
		if round > 0 { // in-place updates from the second round: they must list like replacements
			kl := &kernelLab{t: t, k: l.k}
			for h, rs := range rulesets {
				kl.sameAsReplaceIn(l.router(h), scratch, rs)
			}
		}
		p, err := policy.Compile(n.Snapshot)
		if err != nil {
			t.Fatal(err)
		}
		flows := g.flows(n, 60, &port)
		wants := make([]bool, len(flows))
		for i, f := range flows {
			wants[i] = f.exchange(policy.NewConntrack(p))
		}
		results := make([]error, len(flows))
		var wg sync.WaitGroup
		for i, f := range flows {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var c *netlab.Conn
				c, results[i] = f.send(l.ns, netlab.Timeout(wants[i]))
				if c != nil {
					c.Close()
				}
			}()
		}
		wg.Wait()
		for i, f := range flows {
			got, want := results[i] == nil, wants[i]
			if got == want {
				if !want {
					denied++
					continue
				}
				admitted++
				if l.on[f.src.ID] != l.on[f.dst.ID] {
					across++
				}
				continue
			}
			kind := "the kernel dropped a new flow the model admits"
			if got {
				kind = "A PACKET THE MODEL DENIES GOT THROUGH"
			}
			repro, _ := json.MarshalIndent(n.Snapshot, "", " ")
			t.Fatalf("round %d: %s: %s (%s → %s; kernel: %v)\nreproduce with STOCKADE_SEED=%d\nnetwork: %s\nruleset of %s:\n%s",
				round, kind, f, l.on[f.src.ID], l.on[f.dst.ID], results[i], seed, repro, l.on[f.src.ID], rulesets[l.on[f.src.ID]].Text())
		}
	}
}
