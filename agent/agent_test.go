package agent_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockade/stockade/agent"
	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// source is a Source whose network the test changes by hand.
type source struct {
	mu  sync.Mutex
	rev int64
	net netmap.Network
	c   chan int64
}

func newSource() *source {
	vpc := &model.VPC{ID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.0.0/16")}
	g := &model.Group{ID: "sg-1", VpcID: "vpc-1"}
	e := &model.NetworkInterface{ID: "eni-1", VpcID: "vpc-1", SubnetID: "subnet-1", Groups: []string{"sg-1"}, PrivateIP: netip.MustParseAddr("10.0.1.4")}
	return &source{rev: 1, c: make(chan int64, 16), net: netmap.Network{Snapshot: netmap.Snapshot{
		VPCs: []*model.VPC{vpc}, Groups: []*model.Group{g}, ENIs: []*model.NetworkInterface{e},
		Subnets: []*model.Subnet{{ID: "subnet-1", VpcID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.1.0/24")}}}}}
}

func (s *source) Networks() (int64, []netmap.Network) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev, []netmap.Network{s.net}
}

func (s *source) Watch(ctx context.Context) <-chan int64 { return s.c }

// authorize adds an ingress rule and commits a revision.
func (s *source) authorize(port int32) int64 {
	s.mu.Lock()
	g := *s.net.Groups[0]
	g.Ingress = append(append([]model.Rule(nil), g.Ingress...), model.Rule{Protocol: "tcp", FromPort: port, ToPort: port, Peer: model.Peer{CIDR: netip.MustParsePrefix("10.0.0.0/16")}})
	s.net.Groups = []*model.Group{&g}
	s.rev++
	rev := s.rev
	s.mu.Unlock()
	s.c <- rev
	return rev
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func start(t *testing.T, k dataplane.Kernel) (*agent.Agent, *source, *logBuf) {
	t.Helper()
	src := newSource()
	logs := &logBuf{}
	a := agent.New(src, agent.Config{Kernel: k, Link: func(e string) string { return "l" + e }, Namespace: func(v string) string { return "ns-" + v },
		Resync: 20 * time.Millisecond, Log: slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := a.Serve(ctx, "vpc-1"); err != nil {
		t.Fatal(err)
	}
	return a, src, logs
}

func wait(t *testing.T, a *agent.Agent, rev int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Wait(ctx, rev); err != nil {
		t.Fatalf("revision %d not enforced: %v (enforced %d)", rev, err, a.Enforced())
	}
}

// TestFirstReplaceThenUpdates: the first transaction replaces the table atomically, later ones
// change it in place, and the enforced revision follows the source.
func TestFirstReplaceThenUpdates(t *testing.T) {
	k := &dataplane.Fake{}
	a, src, _ := start(t, k)
	rev := src.authorize(8080)
	wait(t, a, rev)
	txs := k.Transactions("ns-vpc-1")
	if len(txs) != 2 {
		t.Fatalf("%d transactions, want 2: %q", len(txs), txs)
	}
	if !strings.HasPrefix(txs[0], "table inet stockade {}\ndelete table inet stockade\n") {
		t.Errorf("first transaction is not an atomic replacement:\n%s", txs[0])
	}
	if strings.Contains(txs[1], "delete table") || !strings.Contains(txs[1], "10.0.0.0/16 . 6 . 8080") {
		t.Errorf("second transaction is not an in-place update adding the rule:\n%s", txs[1])
	}
}

// TestFailedTransactionIsRetried: a refused transaction leaves enforcement behind (and says
// so in the log) until a retry succeeds with a whole-table replacement.
func TestFailedTransactionIsRetried(t *testing.T) {
	k := &dataplane.Fake{}
	a, src, logs := start(t, k)
	k.Fail = 3
	rev := src.authorize(8080)
	wait(t, a, rev)
	if !strings.Contains(logs.String(), "a transaction failed") || !strings.Contains(logs.String(), "enforcement caught up") {
		t.Errorf("failures and recovery not logged:\n%s", logs)
	}
	txs := k.Transactions("ns-vpc-1")
	if last := txs[len(txs)-1]; !strings.Contains(last, "delete table inet stockade") || !strings.Contains(last, "10.0.0.0/16 . 6 . 8080") {
		t.Errorf("after failures, want a whole replacement with the rule:\n%s", last)
	}
}

// TestHandEditIsRepaired: when the kernel's listing changes behind the agent's back, the next
// resync logs it and replaces the table.
func TestHandEditIsRepaired(t *testing.T) {
	k := &dataplane.Fake{}
	a, src, logs := start(t, k)
	wait(t, a, src.rev)
	n := len(k.Transactions("ns-vpc-1"))
	k.Edit("ns-vpc-1")
	deadline := time.Now().Add(5 * time.Second)
	for len(k.Transactions("ns-vpc-1")) == n {
		if time.Now().After(deadline) {
			t.Fatal("the hand edit was not repaired")
		}
		time.Sleep(10 * time.Millisecond) // resync runs every 20 ms; bounded by the deadline
	}
	if !strings.Contains(logs.String(), "changed outside Stockade") {
		t.Errorf("repair not logged:\n%s", logs)
	}
	if txs := k.Transactions("ns-vpc-1"); !strings.Contains(txs[len(txs)-1], "delete table inet stockade") {
		t.Errorf("repair is not a whole replacement")
	}
}
