package control

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// TestOversizedWriteFailsOnlyItself: a write whose records the store cannot hold (here a
// 40,000-character region makes every key too large for bbolt, whatever the API validates)
// fails that request with InvalidParameterValue, leaves memory as it was and does not stop the
// service; writes of other tenants running at the same time, in the same group commits,
// succeed. Before, the commit failed inside the store and the whole service fail-stopped.
func TestOversizedWriteFailsOnlyItself(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t)
	mallory := Tenant{Account: "444455556666", Region: strings.Repeat("x", 40000)}

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := 0; w < 4; w++ {
		wg.Add(2)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if _, _, err := s.CreateGroup(ctx, mallory, CreateGroupInput{Name: fmt.Sprintf("m%d-%d", w, i), Description: "d"}); code(err) != "InvalidParameterValue" {
					errs <- fmt.Errorf("oversized write: %v", err)
				}
			}
		}(w)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if _, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: fmt.Sprintf("a%d-%d", w, i), Description: "d"}); err != nil {
					errs <- fmt.Errorf("alice's write beside the oversized ones: %v", err)
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := s.Err(); err != nil {
		t.Fatalf("service stopped: %v", err)
	}
	// Memory rolled back: mallory's tenant has only its (in-memory) default VPC's group.
	err := s.View(ctx, mallory, func(v View) error {
		if n := len(v.Groups()); n != 1 {
			return fmt.Errorf("mallory has %d groups after refused writes, want the default one", n)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if n := len(mustView(t, s, func(v View) []*model.Group { return v.Groups() })); n != 41 {
		t.Errorf("alice has %d groups, want 41", n)
	}
}

// TestReadsCreateNothingDurable: reads, refused writes and dry runs in new regions leave the
// store as it was (no revision, no key). The default VPC a read shows keeps its IDs, and the
// first write commits it with them; it counts towards the VPC quota before and after.
func TestReadsCreateNothingDurable(t *testing.T) {
	ctx := context.Background()
	st := tempBolt(t)
	cfg := DefaultConfig()
	cfg.Quotas.VPCs = 1
	s, err := Open(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	regions := []string{"us-east-1", "us-west-2", "eu-west-1", "ap-south-1", "sa-east-1"}
	shown := map[string]string{}
	for _, r := range regions {
		tn := Tenant{Account: alice.Account, Region: r}
		if err := s.View(ctx, tn, func(v View) error {
			if v.DefaultVPC() == nil || len(v.Subnets()) != 3 {
				return fmt.Errorf("%s: default VPC %v, %d subnets", r, v.DefaultVPC(), len(v.Subnets()))
			}
			shown[r] = v.DefaultVPC().ID
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// The default VPC counts: with a quota of one VPC, no other may be created.
		if _, _, err := s.CreateVPC(ctx, tn, CreateVPCInput{CIDR: "10.0.0.0/16"}); code(err) != "VpcLimitExceeded" {
			t.Errorf("%s: CreateVPC beside the lazy default VPC: %v", r, err)
		}
		if _, _, err := s.CreateGroup(ctx, tn, CreateGroupInput{Name: "web", Description: "d", DryRun: true}); code(err) != "DryRunOperation" {
			t.Errorf("%s: dry run: %v", r, err)
		}
	}
	kvs, _, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Revision() != 0 || len(kvs) != 0 {
		t.Fatalf("reads wrote to the store: revision %d, keys %d", st.Revision(), len(kvs))
	}
	if _, nets := s.Networks(); len(nets) != 0 {
		t.Errorf("the host feed shows %d tenants nobody wrote to", len(nets))
	}

	// A write materialises the tenant, default VPC included, with the IDs already shown.
	g, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "web", Description: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Revision() != 1 {
		t.Errorf("revision %d after the first write, want 1", st.Revision())
	}
	s2, err := Open(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s2.View(ctx, alice, func(v View) error {
		if d := v.DefaultVPC(); d == nil || d.ID != shown[alice.Region] {
			return fmt.Errorf("default VPC after reopen %v, want %s", d, shown[alice.Region])
		}
		if len(v.Subnets()) != 3 || len(v.NACLs()) != 1 || len(v.Groups()) != 2 {
			return fmt.Errorf("after reopen: %d subnets, %d ACLs, %d groups", len(v.Subnets()), len(v.NACLs()), len(v.Groups()))
		}
		if got, err := v.Group(g.ID); err != nil || got.VpcID != shown[alice.Region] {
			return fmt.Errorf("group after reopen: %+v %v", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s2.CreateVPC(ctx, alice, CreateVPCInput{CIDR: "10.0.0.0/16"}); code(err) != "VpcLimitExceeded" {
		t.Errorf("CreateVPC beside the materialised default VPC: %v", err)
	}
	if _, nets := s2.Networks(); len(nets) != 1 || nets[0].Tenant != alice {
		t.Errorf("host feed after the first write: %v", nets)
	}
	// The other regions were never written: still nothing of them on disk.
	kvs, _, _ = st.List(ctx, "")
	var regionsOnDisk []string
	for _, kv := range kvs {
		if tn, _, _, ok := parseKey(kv.Key); ok && !slices.Contains(regionsOnDisk, tn.Region) {
			regionsOnDisk = append(regionsOnDisk, tn.Region)
		}
	}
	if diff := cmp.Diff([]string{alice.Region}, regionsOnDisk); diff != "" {
		t.Errorf("regions on disk (-want +got):\n%s", diff)
	}
}

// TestNetworksWaitForDurability: the host feed is a read like any other. A write's change is in
// memory before its commit is durable; Networks must not hand it to the kernel until it is.
// If the commit fails instead, Networks keeps giving its last (durable) answer.
func TestNetworksWaitForDurability(t *testing.T) {
	ctx := context.Background()
	gs := &gatedStore{Store: tempBolt(t), gate: make(chan struct{})}
	s := openService(t, gs)
	created := startStagedWrite(ctx, s)
	got := make(chan []netmap.Network, 1)
	go func() { _, nets := s.Networks(); got <- nets }()
	select {
	case nets := <-got:
		t.Fatalf("Networks returned %d tenants while the write it saw was not durable", len(nets))
	case err := <-created:
		t.Fatalf("the write returned before its commit: %v", err)
	case <-time.After(100 * time.Millisecond): // a correct implementation never returns here early
	}
	close(gs.gate)
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if nets := <-got; len(nets) != 1 || len(nets[0].Groups) != 2 {
		t.Fatalf("Networks after the commit: %+v", nets)
	}
}

// TestNetworksAfterAFailedCommit: once a commit has failed, memory holds a change that is not
// on disk; the host feed keeps its last answer instead of showing it.
func TestNetworksAfterAFailedCommit(t *testing.T) {
	ctx := context.Background()
	fs := &flakyStore{Store: tempBolt(t)}
	s := openService(t, fs)
	if _, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "web", Description: "w"}); err != nil {
		t.Fatal(err)
	}
	rev, before := s.Networks()
	fs.setFailing(true)
	if _, _, err := s.CreateGroup(ctx, alice, CreateGroupInput{Name: "app", Description: "a"}); code(err) != "InternalError" {
		t.Fatalf("write with a failing disk: %v", err)
	}
	rev2, after := s.Networks()
	if rev2 != rev || len(after) != 1 || len(after[0].Groups) != len(before[0].Groups) {
		t.Errorf("Networks after the failed commit: revision %d (was %d), %d groups (was %d)", rev2, rev, len(after[0].Groups), len(before[0].Groups))
	}
}

// TestAnalysisComputesOutsideTheLock: while the analyser works, no lock of the tenant is held
// and another write of the tenant completes (the hook runs it synchronously: before the fix
// it would have found the write lock taken). A path deleted while the analysis ran is
// reported, not analysed into a dangling record.
func TestAnalysisComputesOutsideTheLock(t *testing.T) {
	e := newENITestService(t, nil)
	a := eniOK[*model.NetworkInterface](t)(e.s.CreateENI(e.ctx, eniTenant, CreateENIInput{SubnetID: e.sn.ID, Groups: []string{e.web.ID}}))
	b := eniOK[*model.NetworkInterface](t)(e.s.CreateENI(e.ctx, eniTenant, CreateENIInput{SubnetID: e.sn.ID, Groups: []string{e.db.ID}}))
	p := eniOK[*model.InsightsPath](t)(e.s.CreateInsightsPath(e.ctx, eniTenant, CreateInsightsPathInput{Source: a.ID, Destination: b.ID, Protocol: "tcp", DestinationPort: 22, HasPort: true}))
	tn, _ := e.s.tenant(e.ctx, eniTenant)

	var hookErr error
	analyseHook = func() {
		if !tn.mu.TryLock() {
			hookErr = errors.New("the tenant's lock is held while the analyser runs")
			return
		}
		tn.mu.Unlock()
		if _, _, err := e.s.CreateGroup(e.ctx, eniTenant, CreateGroupInput{Name: "during", Description: "d", VpcID: e.vpc.ID}); err != nil {
			hookErr = fmt.Errorf("write during the analysis: %v", err)
		}
	}
	t.Cleanup(func() { analyseHook = nil })
	an, _, err := e.s.StartInsightsAnalysis(e.ctx, eniTenant, StartInsightsAnalysisInput{PathID: p.ID, Tags: nil, ClientToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	if an.Status != "succeeded" || an.PathFound {
		t.Errorf("analysis: status %s, path found %v (db admits nothing)", an.Status, an.PathFound)
	}
	// The same token replays the stored analysis without running the analyser again.
	analyseHook = func() { hookErr = errors.New("a replayed analysis ran the analyser") }
	again, _, err := e.s.StartInsightsAnalysis(e.ctx, eniTenant, StartInsightsAnalysisInput{PathID: p.ID, Tags: nil, ClientToken: "tok"})
	if err != nil || again.ID != an.ID || hookErr != nil {
		t.Errorf("replay: %v %v %v", again, err, hookErr)
	}

	// The path disappears while the analyser runs: the analysis is refused.
	if _, err := e.s.DeleteInsightsAnalysis(e.ctx, eniTenant, IDInput{ID: an.ID}); err != nil {
		t.Fatal(err)
	}
	analyseHook = func() {
		if _, err := e.s.DeleteInsightsPath(e.ctx, eniTenant, IDInput{ID: p.ID}); err != nil {
			hookErr = err
		}
	}
	if _, _, err := e.s.StartInsightsAnalysis(e.ctx, eniTenant, StartInsightsAnalysisInput{PathID: p.ID, Tags: nil, ClientToken: ""}); code(err) != "InvalidNetworkInsightsPathId.NotFound" || hookErr != nil {
		t.Errorf("analysis of a path deleted meanwhile: %v (hook: %v)", err, hookErr)
	}
	if n := len(mustViewOf(t, e.s, eniTenant, func(v View) []*model.InsightsAnalysis { return v.InsightsAnalyses() })); n != 0 {
		t.Errorf("%d analyses stored, want 0", n)
	}
}

// TestClientTokensAreBounded: a token is kept for a day and a tenant keeps at most maxTokens;
// the expired and the oldest go in the transaction that adds a new one.
func TestClientTokensAreBounded(t *testing.T) {
	e := newENITestService(t, nil)
	tokenKeys := func() []string { return e.storedIDs(kindToken) }
	create := func(token string) string {
		t.Helper()
		n, _, err := e.s.CreateENI(e.ctx, eniTenant, CreateENIInput{SubnetID: e.sn.ID, ClientToken: token})
		if err != nil {
			t.Fatal(err)
		}
		return n.ID
	}
	first := create("a")
	if again := create("a"); again != first {
		t.Fatalf("retry within the day created %s, want %s", again, first)
	}
	e.clock.Advance(tokenTTL)
	create("b")
	if diff := cmp.Diff([]string{"CreateNetworkInterface/b"}, tokenKeys()); diff != "" {
		t.Errorf("tokens after a day (-want +got):\n%s", diff)
	}
	if again := create("a"); again == first {
		t.Error("an expired token still replayed")
	}

	defer func(n int) { maxTokens = n }(maxTokens)
	maxTokens = 3
	for _, tok := range []string{"c", "d", "e"} {
		e.clock.Advance(time.Minute)
		create(tok)
	}
	if diff := cmp.Diff([]string{"CreateNetworkInterface/c", "CreateNetworkInterface/d", "CreateNetworkInterface/e"}, tokenKeys()); diff != "" {
		t.Errorf("tokens at the bound (-want +got):\n%s", diff)
	}
	e.reopen()
	e.clock.Advance(time.Minute)
	create("f")
	if diff := cmp.Diff([]string{"CreateNetworkInterface/d", "CreateNetworkInterface/e", "CreateNetworkInterface/f"}, tokenKeys()); diff != "" {
		t.Errorf("tokens after a restart (-want +got):\n%s", diff)
	}
}

// TestLongClientTokenIsARequestError: a 40,000-character ClientToken (review §6.1) used to
// make the token's store key too large and stop the service. Every idempotent action now
// refuses it with InvalidParameterValue before anything is staged.
func TestLongClientTokenIsARequestError(t *testing.T) {
	e := newENITestService(t, nil)
	long := strings.Repeat("x", 40000)
	eni := eniOK[*model.NetworkInterface](t)(e.s.CreateENI(e.ctx, eniTenant, CreateENIInput{SubnetID: e.sn.ID}))
	p := eniOK[*model.InsightsPath](t)(e.s.CreateInsightsPath(e.ctx, eniTenant, CreateInsightsPathInput{Source: eni.ID, DestinationIP: "8.8.8.8", Protocol: "tcp"}))
	rev := e.st.Revision()
	for name, call := range map[string]func() error{
		"CreateNetworkInterface": func() error {
			_, _, err := e.s.CreateENI(e.ctx, eniTenant, CreateENIInput{SubnetID: e.sn.ID, ClientToken: long})
			return err
		},
		"CreateManagedPrefixList": func() error {
			_, _, err := e.s.CreatePrefixList(e.ctx, eniTenant, CreatePrefixListInput{Name: "pl", Family: "IPv4", MaxEntries: 1, HasMax: true, ClientToken: long})
			return err
		},
		"CreateFlowLogs": func() error {
			_, _, err := e.s.CreateFlowLogs(e.ctx, eniTenant, CreateFlowLogsInput{ResourceIDs: []string{e.vpc.ID}, ResourceType: "VPC", TrafficType: "ALL",
				DestType: "s3", Destination: "arn:aws:s3:::bucket", ClientToken: long})
			return err
		},
		"RunInstances": func() error {
			_, _, err := e.s.RunInstances(e.ctx, eniTenant, RunInput{ImageID: image.DefaultID, MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID, ClientToken: long})
			return err
		},
		"CreateNetworkInsightsPath": func() error {
			_, _, err := e.s.CreateInsightsPath(e.ctx, eniTenant, CreateInsightsPathInput{Source: eni.ID, DestinationIP: "8.8.4.4", Protocol: "tcp", ClientToken: long})
			return err
		},
		"StartNetworkInsightsAnalysis": func() error {
			_, _, err := e.s.StartInsightsAnalysis(e.ctx, eniTenant, StartInsightsAnalysisInput{PathID: p.ID, Tags: nil, ClientToken: long})
			return err
		},
		"CreateNetworkAcl": func() error {
			_, _, err := e.s.CreateNACL(e.ctx, eniTenant, CreateNACLInput{VpcID: e.vpc.ID, Tags: nil, ClientToken: long})
			return err
		},
	} {
		if err := call(); code(err) != "InvalidParameterValue" {
			t.Errorf("%s with a 40,000-character token: %v", name, err)
		}
	}
	if err := e.s.Err(); err != nil {
		t.Fatalf("service stopped: %v", err)
	}
	if e.st.Revision() != rev {
		t.Errorf("refused requests wrote: revision %d, was %d", e.st.Revision(), rev)
	}
	if _, _, err := e.s.CreateENI(e.ctx, eniTenant, CreateENIInput{SubnetID: e.sn.ID, ClientToken: "ok"}); err != nil {
		t.Errorf("a normal write afterwards: %v", err)
	}
}
