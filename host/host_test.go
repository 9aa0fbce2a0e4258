package host_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/host/nsfake"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

var names = netlab.Names{Prefix: "t"}

// source is a Source whose network the test changes by hand.
type source struct {
	mu  sync.Mutex
	rev int64
	net netmap.Network
	c   chan int64
}

// newSource is one account with VPC vpc-1 (subnet-1, group sg-1) and no instances.
func newSource() *source {
	vpc := &model.VPC{ID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.0.0/16")}
	g := &model.Group{ID: "sg-1", VpcID: "vpc-1"}
	return &source{rev: 1, c: make(chan int64, 64), net: netmap.Network{
		Tenant: netmap.Tenant{Account: "111122223333", Region: "us-east-1"},
		Snapshot: netmap.Snapshot{VPCs: []*model.VPC{vpc}, Groups: []*model.Group{g},
			Subnets: []*model.Subnet{{ID: "subnet-1", VpcID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.1.0/24")}}}}}
}

func (s *source) Networks() (int64, []netmap.Network) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev, []netmap.Network{s.net}
}

func (s *source) Watch(ctx context.Context) <-chan int64 { return s.c }

// commit changes the network and reports a new revision.
func (s *source) commit(change func(n *netmap.Network)) int64 {
	s.mu.Lock()
	n := s.net
	n.ENIs = append([]*model.NetworkInterface(nil), n.ENIs...)
	n.Instances = append([]*model.Instance(nil), n.Instances...)
	change(&n)
	s.net = n
	s.rev++
	rev := s.rev
	s.mu.Unlock()
	s.c <- rev
	return rev
}

// launch adds a running instance i-N with interface eni-N at 10.0.1.N in vpc-1.
func (s *source) launch(n int, userData string) int64 {
	return s.commit(func(net *netmap.Network) {
		id := "-" + string(rune('0'+n))
		net.ENIs = append(net.ENIs, &model.NetworkInterface{ID: "eni" + id, VpcID: "vpc-1", SubnetID: "subnet-1", Groups: []string{"sg-1"}, SourceDestCheck: true,
			PrivateIP: netip.AddrFrom4([4]byte{10, 0, 1, byte(n)}), Attachment: &model.Attachment{InstanceID: "i" + id}})
		net.Instances = append(net.Instances, &model.Instance{ID: "i" + id, VpcID: "vpc-1", State: model.StateRunning,
			InterfaceIDs: []string{"eni" + id}, UserData: []byte(userData)})
	})
}

// terminate marks instance i-N terminated.
func (s *source) terminate(n int) int64 {
	return s.commit(func(net *netmap.Network) {
		for i, in := range net.Instances {
			if in.ID == "i-"+string(rune('0'+n)) {
				c := *in
				c.State = model.StateTerminated
				net.Instances[i] = &c
			}
		}
	})
}

// authorize adds an ingress rule to sg-1.
func (s *source) authorize(port int32) int64 {
	return s.commit(func(net *netmap.Network) {
		g := *net.Groups[0]
		g.Ingress = append(append([]model.Rule(nil), g.Ingress...), model.Rule{Protocol: "tcp", FromPort: port, ToPort: port, Peer: model.Peer{CIDR: netip.MustParsePrefix("10.0.0.0/16")}})
		net.Groups = []*model.Group{&g}
	})
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

type env struct {
	t    *testing.T
	h    *host.Host
	src  *source
	k    *dataplane.Fake
	ns   *nsfake.Fake
	dir  string
	logs *logBuf
}

func newEnv(t *testing.T, k dataplane.Kernel, ns *nsfake.Fake) *env {
	t.Helper()
	if ns == nil {
		ns = &nsfake.Fake{}
	}
	e := &env{t: t, src: newSource(), ns: ns, dir: t.TempDir(), logs: &logBuf{}}
	if k == nil {
		e.k = &dataplane.Fake{}
		k = e.k
	}
	var err error
	e.h, err = host.New(e.src, host.Config{Kernel: k, Namespaces: ns, Names: names, Dir: e.dir,
		Resync: 20 * time.Millisecond, Log: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// restart is the next start of the host's server: a new Host on the same source, namespaces
// and directory (and a kernel of its own), reconciled once.
func (e *env) restart() *host.Host {
	e.t.Helper()
	return e.restartOn(&dataplane.Fake{})
}

// restartOn is restart with the kernel k, for a test that reads the rulesets it applies.
func (e *env) restartOn(k dataplane.Kernel) *host.Host {
	e.t.Helper()
	h, err := host.New(e.src, host.Config{Kernel: k, Namespaces: e.ns, Names: names, Dir: e.dir,
		Log: slog.New(slog.NewTextHandler(e.logs, nil))})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := h.Reconcile(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return h
}

// run starts the reconciler until the test ends.
func (e *env) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.h.Run(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

func (e *env) reconcile() error { e.t.Helper(); return e.h.Reconcile(context.Background()) }

func (e *env) wait(rev int64) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.h.Wait(ctx, rev); err != nil {
		e.t.Fatalf("revision %d not reached: %v (enforced %d)\n%s", rev, err, e.h.Enforced(), e.logs)
	}
}

func (e *env) dump(want ...string) {
	e.t.Helper()
	if diff := cmp.Diff(want, e.ns.Dump()); diff != "" {
		e.t.Errorf("namespaces (-want +got):\n%s", diff)
	}
}

func link(eni string) string { return names.Link(eni) }

// TestInstancesAndRouters: a launch makes the router (ruleset, then forwarding) and the
// instance; a termination removes the instance and its files, and the router with the last
// instance of its VPC.
func TestInstancesAndRouters(t *testing.T) {
	e := newEnv(t, nil, nil)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.dump()
	e.src.launch(1, "")
	e.src.launch(2, "")
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.dump("instance t-i-1 eth0 10.0.1.1/24", "instance t-i-2 eth0 10.0.1.2/24",
		"router t-vpc-1 forwarding=on links="+link("eni-1")+">t-i-1,"+link("eni-2")+">t-i-2")
	if got := e.h.Instances(); len(got) != 2 || got[0].ID != "i-1" || got[0].Router != "t-vpc-1" || got[1].Links[0] != link("eni-2") {
		t.Errorf("Instances() = %+v", got)
	}
	if e.h.Enforced() != e.src.rev {
		t.Errorf("enforced %d, want %d", e.h.Enforced(), e.src.rev)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "i-1.log"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.src.terminate(1)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.dump("instance t-i-2 eth0 10.0.1.2/24", "router t-vpc-1 forwarding=on links="+link("eni-2")+">t-i-2")
	if _, err := os.Stat(filepath.Join(e.dir, "i-1.log")); !os.IsNotExist(err) {
		t.Errorf("console log of a terminated instance kept: %v", err)
	}
	e.src.terminate(2)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.dump()
	if got := e.h.Instances(); len(got) != 0 {
		t.Errorf("Instances() = %+v, want none", got)
	}
}

// TestForwardingOnlyAfterRuleset: while the router's ruleset cannot go in, the router keeps
// forwarding off, no instance is wired, and enforcement is not claimed; the retry does all.
func TestForwardingOnlyAfterRuleset(t *testing.T) {
	e := newEnv(t, nil, nil)
	rev := e.src.launch(1, "")
	e.k.Fail = 1
	if err := e.reconcile(); err == nil {
		t.Fatal("a refused transaction was not reported")
	}
	e.dump("router t-vpc-1 forwarding=off links=")
	if e.h.Enforced() >= rev {
		t.Errorf("enforced %d claimed with the ruleset refused", e.h.Enforced())
	}
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.dump("instance t-i-1 eth0 10.0.1.1/24", "router t-vpc-1 forwarding=on links="+link("eni-1")+">t-i-1")
	e.wait(rev)
}

// TestOneFailingInstance: an instance that cannot be wired does not keep the others from
// theirs; the error names it, and the lab is not reported caught up until it is wired.
func TestOneFailingInstance(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.src.launch(1, "")
	rev := e.src.launch(2, "")
	e.ns.Fail("attach", "t-i-1", nsfake.ErrFake)
	err := e.reconcile()
	if err == nil || !strings.Contains(err.Error(), "i-1") {
		t.Fatalf("err = %v, want one naming i-1", err)
	}
	e.dump("instance t-i-2 eth0 10.0.1.2/24", "router t-vpc-1 forwarding=on links="+link("eni-2")+">t-i-2")
	if e.h.Enforced() != rev {
		t.Errorf("enforced %d, want %d: the ruleset is in", e.h.Enforced(), rev)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if e.h.Wait(ctx, rev) == nil {
		t.Error("Wait says the lab caught up while i-1 has no namespace")
	}
	e.ns.Fail("attach", "t-i-1", nil)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.wait(rev)
}

// TestAdoptAndSweep: after a restart that kept the lab, the namespaces of running instances
// are adopted (their user data does not run again) and the router's ruleset is replaced;
// namespaces and files of instances gone meanwhile, and routers without instances, go.
func TestAdoptAndSweep(t *testing.T) {
	ns := &nsfake.Fake{}
	ns.Add("t-vpc-1", true)
	ns.Add("t-i-1", false)
	ns.Add("t-i-9", false)     // terminated while the server was down
	ns.Add("t-vpc-9", true)    // its VPC has no instance
	ns.Add("other-i-1", false) // not ours
	ns.Add("t-scratch", false) // ours by prefix, but no instance or router name
	e := newEnv(t, nil, ns)
	for name, body := range map[string]string{"i-1.log": "earlier", "i-9.log": "old", "i-9.user-data": "old", "notes.txt": "keep"} {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.src.launch(1, "echo must not run again\n")
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	// The adopted i-1 had no link on its router (the fake made none): it is wired now, as an
	// interface attached while the server was down is (TestAttachedWhileDown).
	e.dump("instance other-i-1 ", "instance t-i-1 eth0 10.0.1.1/24", "instance t-scratch ", "router t-vpc-1 forwarding=on links="+link("eni-1")+">t-i-1")
	if txs := e.k.Transactions("t-vpc-1"); len(txs) != 1 || !strings.HasPrefix(txs[0], "flush ruleset\n") {
		t.Errorf("adopted router not replaced whole: %q", txs)
	}
	got, _ := os.ReadDir(e.dir)
	var files []string
	for _, f := range got {
		files = append(files, f.Name())
	}
	if diff := cmp.Diff([]string{"i-1.log", "notes.txt"}, files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if out, _ := e.h.Console("i-1"); string(out) != "earlier" {
		t.Errorf("adopted instance's console = %q: user data ran again?", out)
	}
}

// TestFirstReplaceThenUpdates: the first transaction replaces the whole ruleset atomically,
// later ones change it in place, and the enforced revision follows the source.
func TestFirstReplaceThenUpdates(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.src.launch(1, "")
	e.run()
	e.wait(e.src.rev)
	rev := e.src.authorize(8080)
	e.wait(rev)
	txs := e.k.Transactions("t-vpc-1")
	if len(txs) != 2 {
		t.Fatalf("%d transactions, want 2: %q", len(txs), txs)
	}
	if !strings.HasPrefix(txs[0], "flush ruleset\ntable inet stockade {") {
		t.Errorf("first transaction is not an atomic replacement:\n%s", txs[0])
	}
	if strings.Contains(txs[1], "flush ruleset") || !strings.Contains(txs[1], "10.0.0.0/16 . 6 . 8080") {
		t.Errorf("second transaction is not an in-place update adding the rule:\n%s", txs[1])
	}
}

// TestFailedTransactionIsRetried: a refused transaction leaves enforcement behind (and says
// so in the log) until a retry succeeds with a whole replacement.
func TestFailedTransactionIsRetried(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.src.launch(1, "")
	e.run()
	e.wait(e.src.rev)
	e.k.Fail = 3
	rev := e.src.authorize(8080)
	e.wait(rev)
	if !strings.Contains(e.logs.String(), "part of a change failed") || !strings.Contains(e.logs.String(), "enforcement caught up") {
		t.Errorf("failures and recovery not logged:\n%s", e.logs)
	}
	txs := e.k.Transactions("t-vpc-1")
	if last := txs[len(txs)-1]; !strings.HasPrefix(last, "flush ruleset\n") || !strings.Contains(last, "10.0.0.0/16 . 6 . 8080") {
		t.Errorf("after failures, want a whole replacement with the rule:\n%s", last)
	}
}

// poll waits, up to a deadline, until cond holds.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(10 * time.Millisecond) // resync runs every 20 ms; bounded by the deadline
	}
}

// TestHandEditIsRepaired: when someone changes the router's ruleset (a rule, or a table of
// their own: both bump the generation), the next resync logs it and replaces the namespace's
// whole ruleset, foreign tables included.
func TestHandEditIsRepaired(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.src.launch(1, "")
	e.run()
	e.wait(e.src.rev)
	n := len(e.k.Transactions("t-vpc-1"))
	e.k.Edit("t-vpc-1")
	poll(t, "the hand edit repaired", func() bool { return len(e.k.Transactions("t-vpc-1")) > n })
	if !strings.Contains(e.logs.String(), "changed outside Stockade") {
		t.Errorf("repair not logged:\n%s", e.logs)
	}
	if txs := e.k.Transactions("t-vpc-1"); !strings.HasPrefix(txs[len(txs)-1], "flush ruleset\n") {
		t.Errorf("repair does not replace the whole ruleset:\n%s", txs[len(txs)-1])
	}
}

// TestForwardingIsRestored: forwarding turned off in a router is turned back on at the next
// resync.
func TestForwardingIsRestored(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.src.launch(1, "")
	e.run()
	e.wait(e.src.rev)
	e.ns.SetForwarding("t-vpc-1", false)
	poll(t, "forwarding restored", func() bool { return strings.Contains(strings.Join(e.ns.Dump(), "\n"), "t-vpc-1 forwarding=on") })
	if !strings.Contains(e.logs.String(), "forwarding was turned off") {
		t.Errorf("repair not logged:\n%s", e.logs)
	}
}

// blockingKernel holds every transaction until released.
type blockingKernel struct {
	dataplane.Fake
	entered, release chan struct{}
}

func (k *blockingKernel) Apply(ctx context.Context, ns, tx string) error {
	k.entered <- struct{}{}
	<-k.release
	return k.Fake.Apply(ctx, ns, tx)
}

// TestInstancesDoNotWaitForReconcile: `stockade lab list` answers while a reconcile is stuck in
// a transaction (if it waited, this test would hang).
func TestInstancesDoNotWaitForReconcile(t *testing.T) {
	k := &blockingKernel{entered: make(chan struct{}), release: make(chan struct{})}
	e := newEnv(t, k, nil)
	e.src.launch(1, "")
	done := make(chan error)
	go func() { done <- e.reconcile() }()
	<-k.entered
	if got := e.h.Instances(); len(got) != 0 {
		t.Errorf("Instances() = %+v before any instance is up", got)
	}
	close(k.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := e.h.Instances(); len(got) != 1 {
		t.Errorf("Instances() = %+v, want i-1", got)
	}
}

// TestCloseRemovesEverything: Close without keep removes every namespace the host made; with
// keep it leaves them. Either way the instances' files stay (they are still running in the
// store: their console output and first-boot mark outlive the restart; a terminate or the
// next start's sweep removes them).
func TestCloseRemovesEverything(t *testing.T) {
	for _, keep := range []bool{false, true} {
		e := newEnv(t, nil, nil)
		e.src.launch(1, "")
		if err := e.reconcile(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.dir, "i-1.log"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := e.h.Close(context.Background(), keep); err != nil {
			t.Fatal(err)
		}
		left, _ := os.ReadDir(e.dir)
		if want := map[bool]int{false: 0, true: 2}[keep]; len(e.ns.Dump()) != want || len(left) != 1 {
			t.Errorf("keep=%v: left %v and %d files", keep, e.ns.Dump(), len(left))
		}
	}
}

// TestUserDataConsole: user data runs once, at launch, and what it prints is the console
// output; a script printing 3 MiB leaves a console log under its 1 MiB limit, of which
// Console returns EC2's last 64 KiB, ending with the script's last words.
func TestUserDataConsole(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.src.launch(1, "#!/bin/sh\necho hello from $INSTANCE_ID\nhead -c 3145728 /dev/zero | tr '\\0' x\necho\necho last words\n")
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	var out []byte
	poll(t, "user data finished", func() bool {
		var err error
		out, err = e.h.Console("i-1")
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Contains(out, []byte("finished with status"))
	})
	if len(out) > host.ConsoleTail {
		t.Errorf("Console returned %d bytes, more than EC2's %d", len(out), host.ConsoleTail)
	}
	if !bytes.Contains(out, []byte("last words\n[stockade] user data finished with status 0\n")) {
		t.Errorf("console output does not end with the script's last words: %q", out[max(len(out)-200, 0):])
	}
	fi, err := os.Stat(filepath.Join(e.dir, "i-1.log"))
	if err != nil || fi.Size() > host.DefaultConsoleLimit {
		t.Errorf("console log on disk: %v, %v (limit %d)", fi.Size(), err, host.DefaultConsoleLimit)
	}
	e.src.terminate(1)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(e.dir); len(left) != 0 {
		t.Errorf("files of a terminated instance left: %v", left)
	}
}

// TestUserDataSmall: a short script's whole output, with its instance ID.
func TestUserDataSmall(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.src.launch(1, "echo hello from $INSTANCE_ID\n")
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	var out []byte
	poll(t, "user data finished", func() bool { out, _ = e.h.Console("i-1"); return bytes.Contains(out, []byte("finished")) })
	if !bytes.Contains(out, []byte("hello from i-1\n[stockade] user data finished with status 0\n")) {
		t.Errorf("console = %q", out)
	}
}

// TestUserDataOnceAcrossRestarts: user data runs at the instance's first boot only. A server
// that stops (removing the namespaces) and starts again rebuilds the instance without running
// it again; the console output of the first boot is still there; terminating the instance
// removes its files. The script also sees none of the server's environment.
func TestUserDataOnceAcrossRestarts(t *testing.T) {
	t.Setenv("STOCKADE_TEST_SECRET", "operator-only")
	runs := filepath.Join(t.TempDir(), "runs")
	e := newEnv(t, nil, nil)
	script := "#!/bin/sh\necho boot >> " + runs + "\necho secret=${STOCKADE_TEST_SECRET:-none} id=$INSTANCE_ID\n"
	e.src.launch(1, script)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	var out []byte
	poll(t, "user data finished", func() bool { out, _ = e.h.Console("i-1"); return bytes.Contains(out, []byte("finished")) })
	if !bytes.Contains(out, []byte("secret=none id=i-1\n")) {
		t.Errorf("the script saw the server's environment, or not its instance ID: %q", out)
	}
	if err := e.h.Close(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	// The next start: a new host on the same directory and the same (still running) instance.
	again := e.restart()
	if got := e.ns.Dump(); len(got) != 2 {
		t.Fatalf("after the restart the instance was not rebuilt: %v", got)
	}
	if c, _ := again.Console("i-1"); !bytes.Contains(c, []byte("secret=none id=i-1")) {
		t.Errorf("the first boot's console output was lost in the restart: %q", c)
	}
	if err := again.Close(context.Background(), false); err != nil { // waits for any script
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(runs); string(b) != "boot\n" {
		t.Errorf("user data ran %d times across a restart, want once", bytes.Count(b, []byte("boot")))
	}
	e.src.terminate(1)
	e.restart()
	if left, _ := os.ReadDir(e.dir); len(left) != 0 {
		t.Errorf("files of an instance terminated while the server was down: %v", left)
	}
}

// TestCgroupsSweptAndRemoved: a start removes the cgroups of instances no longer running (and
// leaves a running one's and another server's), and a termination removes the instance's.
func TestCgroupsSweptAndRemoved(t *testing.T) {
	root := t.TempDir()
	var groups []string
	for _, g := range []string{"memory/stockade/t-i-1", "pids/stockade/t-i-1", "cpu/stockade/t-i-1",
		"memory/stockade/t-i-9", "pids/stockade/t-i-9", "pids/stockade/other-i-3"} {
		// Empty directories: rmdir works on them as on a real group whose processes are gone.
		if err := os.MkdirAll(filepath.Join(root, g), 0o755); err != nil {
			t.Fatal(err)
		}
		groups = append(groups, g)
	}
	left := func() []string {
		var out []string
		for _, g := range groups {
			if _, err := os.Stat(filepath.Join(root, g)); err == nil {
				out = append(out, g)
			}
		}
		return out
	}
	ns := &nsfake.Fake{}
	ns.Add("t-vpc-1", true)
	ns.Add("t-i-1", false) // running, adopted
	src := newSource()
	h, err := host.New(src, host.Config{Kernel: &dataplane.Fake{}, Namespaces: ns, Names: names, Dir: t.TempDir(),
		Sandbox: &host.Sandbox{UIDBase: 200000, Cgroups: &host.Cgroups{Root: root}}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	src.launch(1, "")
	if err := h.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"memory/stockade/t-i-1", "pids/stockade/t-i-1", "cpu/stockade/t-i-1", "pids/stockade/other-i-3"}
	if diff := cmp.Diff(want, left()); diff != "" {
		t.Errorf("cgroups after the start (-want +got):\n%s", diff)
	}
	src.terminate(1)
	if err := h.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"pids/stockade/other-i-3"}, left()); diff != "" {
		t.Errorf("cgroups after the termination (-want +got):\n%s", diff)
	}
}
