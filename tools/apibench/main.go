// Command apibench measures Stockade's EC2 API against moto's server, side by side in one run,
// with the same workload and concurrency: create groups, authorize a rule on each, describe by
// ID, describe with a filter, delete. With -scale it loads 10,000 groups × 20 rules into
// Stockade alone and measures filtered describes, memory and start-up time.
//
//	go run ./tools/apibench             # Stockade vs moto (python3 -m moto.server)
//	go run ./tools/apibench -scale      # the 10,000-group targets
//	go run ./tools/apibench -trail      # Stockade with the change trail on vs off
//	go run ./tools/apibench -etcd 3     # Stockade on a 3-member etcd vs embedded vs moto
//	go run ./tools/apibench -calibrate  # describe by ID vs a server returning a canned reply
//	go run ./tools/apibench -variant-env GOGC=200   # Stockade with a setting vs without
//	go run ./tools/apibench -variant-bin ../other/stockade   # another build vs this checkout's
//
// Results are printed as Markdown tables for BENCHMARKS.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/auth/sigv4"
)

func main() {
	groups := flag.Int("groups", 1000, "groups created in the comparison")
	conc := flag.Int("c", 4, "concurrent clients")
	dur := flag.Duration("d", 10*time.Second, "duration of each describe phase")
	scale := flag.Bool("scale", false, "run the 10,000 groups × 20 rules measurements on Stockade only")
	skipMoto := flag.Bool("no-moto", false, "measure Stockade only")
	trailCmp := flag.Bool("trail", false, "compare Stockade with the change trail on (--trail) and off (--trail=false), no moto")
	rounds := flag.Int("rounds", 1, "with -trail, -turns or -calibrate: rounds of both servers, alternating which goes first")
	block := flag.Int("block", 250, "with -trail or -turns: calls per block; the two servers take turns block by block")
	turns := flag.Bool("turns", false, "compare Stockade with moto taking turns block by block (as -trail does), not one after the other; with -etcd, Stockade on etcd with reads' trail records replicated and not")
	etcdMembers := flag.Int("etcd", 0, "compare Stockade on an etcd cluster of this many members (the etcd binary, apt-get install etcd-server) with Stockade on its embedded store and moto")
	cal := flag.Bool("calibrate", false, "compare Stockade's describe by ID with a server that returns the same reply canned (the client's and machine's limit), no moto")
	canned := flag.String("serve-canned", "", "serve this file as every reply, on -listen (what -calibrate starts)")
	listen := flag.String("listen", "", "with -serve-canned: the address to listen on")
	flag.IntVar(&warmGroups, "warm", 0, "with -turns, -trail or a variant: before each round's phases, create, authorize and delete this many other groups on each server, unmeasured (a fresh server's first seconds of load pay for its heap's growth: BENCHMARKS.md, twentieth session)")
	flag.StringVar(&perfDir, "perf", "", "record each phase of each Stockade server with perf record -g into this directory (one file per server and phase)")
	flag.Func("variant-arg", "compare Stockade with this extra argument (repeatable) against Stockade without it, taking turns",
		func(v string) error { variantArgs = append(variantArgs, v); return nil })
	flag.Func("variant-env", "compare Stockade with this NAME=VALUE in its environment (repeatable) against Stockade without it, taking turns",
		func(v string) error { variantEnv = append(variantEnv, v); return nil })
	flag.StringVar(&variantBin, "variant-bin", "", "compare this Stockade binary (built from another checkout) against this checkout's, taking turns")
	flag.Func("server-arg", "an extra argument for every Stockade server started (repeatable), e.g. -server-arg=--audit=false",
		func(v string) error { serverArgs = append(serverArgs, v); return nil })
	flag.Parse()
	// The Stockade binary a run builds (41 MB) goes with it; a run that ends in log.Fatal
	// leaves it in its temporary directory.
	defer func() {
		if stockadeBin != "" {
			os.RemoveAll(filepath.Dir(stockadeBin))
		}
	}()
	if *canned != "" {
		serveCanned(*canned, *listen)
		return
	}
	if *cal {
		calibrate(*groups, *conc, *dur, *rounds)
		return
	}
	if *scale {
		runScale(*conc)
		return
	}
	if *trailCmp {
		compareTrail(*groups, *conc, *dur, *rounds, *block)
		return
	}
	if len(variantArgs)+len(variantEnv) > 0 || variantBin != "" {
		compareVariant(*groups, *conc, *dur, *rounds, *block)
		return
	}
	if *turns && !*skipMoto && *etcdMembers == 0 {
		compareMoto(*groups, *conc, *dur, *rounds, *block)
		return
	}
	if *etcdMembers > 0 && *turns {
		compareReplica(*etcdMembers, *groups, *conc, *dur, *rounds, *block)
		return
	}
	if *etcdMembers > 0 {
		compareEtcd(*etcdMembers, *groups, *conc, *dur, *skipMoto)
		return
	}
	st := startStockade(tempDir())
	defer st.stop()
	results := map[string][]phase{"stockade": runWorkload(st, *groups, *conc, *dur)}
	if !*skipMoto {
		m := startMoto()
		defer m.stop()
		results["moto"] = runWorkload(m, *groups, *conc, *dur)
	}
	fmt.Printf("\n%d groups, %d concurrent clients, describe phases %s each\n\n", *groups, *conc, *dur)
	fmt.Println("| phase | Stockade ops/s | moto ops/s | ratio | Stockade p50 / p99 | moto p50 / p99 |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for i, p := range results["stockade"] {
		m := phase{}
		if ms := results["moto"]; i < len(ms) {
			m = ms[i]
		}
		ratio := "—"
		if m.rate() > 0 {
			ratio = fmt.Sprintf("%.0f×", p.rate()/m.rate())
		}
		fmt.Printf("| %s | %.0f | %.0f | %s | %s / %s | %s / %s |\n", p.name, p.rate(), m.rate(), ratio,
			ms(p.pct(50)), ms(p.pct(99)), ms(m.pct(50)), ms(m.pct(99)))
	}
	for _, who := range []string{"stockade", "moto"} {
		for _, p := range results[who] {
			if p.errors > 0 {
				fmt.Printf("\n%s %s: %d errors (first: %s)\n", who, p.name, p.errors, p.firstErr)
			}
		}
	}
}

func ms(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}

func tempDir() string {
	d, err := os.MkdirTemp("", "apibench-")
	if err != nil {
		log.Fatal(err)
	}
	return d
}

// target is a running server and how to sign for it.
type target struct {
	name, endpoint string
	akid, secret   string
	cmd            *exec.Cmd
	http           *http.Client
	dataDir        string // removed by stop (a Stockade server's; "" for moto)
}

func (t *target) stop() {
	t.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.cmd.Process.Kill()
		<-done
	}
	if t.dataDir != "" {
		os.RemoveAll(t.dataDir) // a run's stores and trail logs would otherwise fill /tmp
	}
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newTarget(name, addr string, cmd *exec.Cmd) *target {
	t := &target{name: name, endpoint: "http://" + addr, cmd: cmd,
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 2 * time.Minute}}
	if err := cmd.Start(); err != nil {
		log.Fatalf("start %s: %v", name, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return t
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Fatalf("%s did not start listening on %s", name, addr)
	return nil
}

func buildStockade() string {
	bin := filepath.Join(tempDir(), "stockade")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/stockade").CombinedOutput(); err != nil {
		log.Fatalf("build: %v %s (run from the repository root)", err, out)
	}
	return bin
}

var stockadeBin string

// serverArgs are -server-arg's, given to every Stockade server.
var serverArgs []string

func startStockade(dataDir string, args ...string) *target {
	return startStockadeEnv(dataDir, nil, args...)
}

// startStockadeEnv starts a Stockade server with env added to this program's environment.
func startStockadeEnv(dataDir string, env []string, args ...string) *target {
	if stockadeBin == "" {
		stockadeBin = buildStockade()
	}
	return startStockadeBin(stockadeBin, dataDir, env, args...)
}

// startStockadeBin starts the Stockade server binary bin.
func startStockadeBin(bin, dataDir string, env []string, args ...string) *target {
	args = append(args, serverArgs...)
	addr := freeAddr()
	cmd := exec.Command(bin, append([]string{"server", "--listen", addr, "--data-dir", dataDir, "--log-level", "warn",
		"--quota", "security-groups=20000", "--quota", "rules-per-group=50", "--quota", "groups-per-interface=5"}, args...)...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	t := newTarget("stockade", addr, cmd)
	waitHealthy(t)
	t.akid, t.secret = credentials(filepath.Join(dataDir, "credentials"))
	t.dataDir = dataDir
	return t
}

func waitHealthy(t *target) {
	for i := 0; i < 1000; i++ {
		if r, err := t.http.Get(t.endpoint + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	log.Fatal("stockade not healthy")
}

// credentials is the default profile's key of the server's credentials file.
func credentials(path string) (string, string) {
	akid, secret, err := auth.ReadCredentials(path, "default")
	if err != nil {
		log.Fatal(err)
	}
	return akid, secret
}

func startMoto() *target {
	addr := freeAddr()
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("python3", "-m", "moto.server", "-H", host, "-p", port)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	t := newTarget("moto", addr, cmd)
	t.akid, t.secret = "AKIAIOSFODNN7EXAMPLE", "moto-accepts-anything"
	return t
}

// call sends one signed EC2 request and returns the body; non-200 is an error.
func (t *target) call(params url.Values) (string, error) {
	params.Set("Version", "2016-11-15")
	body := params.Encode()
	req, _ := http.NewRequest(http.MethodPost, t.endpoint+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Host = req.URL.Host
	sigv4.Sign(req, []byte(body), t.akid, t.secret, "us-east-1", "ec2", time.Now())
	resp, err := t.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: HTTP %d: %.200s", params.Get("Action"), resp.StatusCode, b)
	}
	return string(b), nil
}

// lookupEvents makes a CloudTrail LookupEvents call for one record (the JSON protocol).
func (t *target) lookupEvents() error {
	body := `{"MaxResults":1}`
	req, _ := http.NewRequest(http.MethodPost, t.endpoint+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "CloudTrail_20131101.LookupEvents")
	req.Host = req.URL.Host
	sigv4.Sign(req, []byte(body), t.akid, t.secret, "us-east-1", "cloudtrail", time.Now())
	resp, err := t.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"EventId"`) {
		return fmt.Errorf("LookupEvents: HTTP %d: %.200s", resp.StatusCode, b)
	}
	return nil
}

func between(s, open, close string) string {
	_, rest, ok := strings.Cut(s, open)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, close)
	return v
}

// phase is one measured step.
type phase struct {
	name     string
	elapsed  time.Duration
	lat      []time.Duration
	errors   int
	firstErr string
	written  int64         // bytes the server process wrote to storage during the phase (/proc/PID/io), -1 unknown
	cpu      time.Duration // CPU time (user and system) the server process used during the phase, -1 unknown
}

// cpuPerOp is the server's CPU time per successful call, in µs.
func (p phase) cpuPerOp() float64 {
	if len(p.lat) == 0 || p.cpu < 0 {
		return 0
	}
	return float64(p.cpu.Microseconds()) / float64(len(p.lat))
}

// cpuTime is the CPU time process pid has used, user and system (/proc/PID/stat, in clock
// ticks of 10 ms), -1 when unknown.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The fields after the command's closing parenthesis: state is the 3rd field of the line,
	// utime and stime the 14th and 15th.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	var ut, st int64
	if _, err := fmt.Sscan(f[11], &ut); err != nil {
		return -1
	}
	if _, err := fmt.Sscan(f[12], &st); err != nil {
		return -1
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// perOp is the bytes written per successful call, in KB.
func (p phase) perOp() float64 {
	if len(p.lat) == 0 || p.written < 0 {
		return 0
	}
	return float64(p.written) / float64(len(p.lat)) / 1024
}

// writeBytes is the storage bytes process pid has caused to be written (write_bytes of
// /proc/PID/io), -1 when unknown.
func writeBytes(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			var n int64
			if _, err := fmt.Sscan(v, &n); err == nil {
				return n
			}
		}
	}
	return -1
}

func (p phase) rate() float64 {
	if p.elapsed == 0 {
		return 0
	}
	return float64(len(p.lat)) / p.elapsed.Seconds()
}

func (p phase) pct(q int) time.Duration {
	if len(p.lat) == 0 {
		return 0
	}
	s := slices.Clone(p.lat)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*q/100)]
}

// run executes op over n items (n < 0: until d passes) with conc workers.
func run(name string, conc, n int, d time.Duration, op func(i int) error) phase {
	var mu sync.Mutex
	p := phase{name: name}
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if (n >= 0 && i >= n) || (n < 0 && time.Since(start) > d) {
					return
				}
				t0 := time.Now()
				err := op(i)
				l := time.Since(t0)
				mu.Lock()
				if err != nil {
					p.errors++
					if p.firstErr == "" {
						p.firstErr = err.Error()
					}
				} else {
					p.lat = append(p.lat, l)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	p.elapsed = time.Since(start)
	if !quiet {
		log.Printf("%-10s %-24s %8.0f ops/s  p99 %s  errors %d", "", name, p.rate(), ms(p.pct(99)), p.errors)
	}
	return p
}

func runWorkload(t *target, n, conc int, d time.Duration) []phase {
	log.Printf("workload against %s", t.name)
	w := newWorkload(t, n)
	var out []phase
	for _, s := range w.steps() {
		count := n
		if !s.write {
			count = -1
		}
		out = append(out, measure(t, s.name, conc, count, d, s.op))
	}
	return out
}

// measure runs one phase against t with the bytes the server wrote and the CPU it used
// meanwhile; the writes of one phase that the kernel flushes later fall on the next, so the
// bytes are approximate.
func measure(t *target, name string, conc, n int, d time.Duration, op func(i int) error) phase {
	before, cpu := writeBytes(t.cmd.Process.Pid), cpuTime(t.cmd.Process.Pid)
	stopProfile := func() {}
	if !quiet { // the trail comparison profiles a whole phase's blocks at once
		stopProfile = profilePhase(t, name)
	}
	p := run(name, conc, n, d, op)
	stopProfile()
	if after := writeBytes(t.cmd.Process.Pid); before >= 0 && after >= 0 {
		p.written = after - before
	} else {
		p.written = -1
	}
	if after := cpuTime(t.cmd.Process.Pid); cpu >= 0 && after >= 0 {
		p.cpu = after - cpu
	} else {
		p.cpu = -1
	}
	return p
}

// workload is the comparison's calls against one server: n groups created, a rule authorized
// on each, described by ID and by a filter, deleted.
type workload struct {
	t      *target
	n      int
	ids    []string
	prefix string
}

func newWorkload(t *target, n int) *workload {
	return &workload{t: t, n: n, ids: make([]string, n), prefix: fmt.Sprintf("bench-%d", time.Now().UnixNano())}
}

// step is one phase of the workload: a write phase calls op once for each group, in order; a
// read phase calls it for a while.
type step struct {
	name  string
	write bool
	op    func(i int) error
}

func (w *workload) steps() []step {
	t := w.t
	return []step{
		{"CreateSecurityGroup", true, func(i int) error {
			body, err := t.call(url.Values{"Action": {"CreateSecurityGroup"}, "GroupName": {fmt.Sprintf("%s-%05d", w.prefix, i)}, "GroupDescription": {"bench"}})
			w.ids[i] = between(body, "<groupId>", "</groupId>")
			return err
		}},
		{"AuthorizeSecurityGroupIngress", true, func(i int) error {
			_, err := t.call(url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "GroupId": {w.ids[i]},
				"IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {fmt.Sprint(1000 + i%50000)}, "IpPermissions.1.ToPort": {fmt.Sprint(1000 + i%50000)},
				"IpPermissions.1.IpRanges.1.CidrIp": {"10.0.0.0/8"}})
			return err
		}},
		{"DescribeSecurityGroups by ID", false, func(int) error {
			_, err := t.call(url.Values{"Action": {"DescribeSecurityGroups"}, "GroupId.1": {w.ids[rand.IntN(w.n)]}})
			return err
		}},
		{"DescribeSecurityGroups filtered", false, func(int) error {
			_, err := t.call(url.Values{"Action": {"DescribeSecurityGroups"}, "Filter.1.Name": {"group-name"},
				"Filter.1.Value.1": {fmt.Sprintf("%s-%05d", w.prefix, rand.IntN(w.n))}})
			return err
		}},
		{"DeleteSecurityGroup", true, func(i int) error {
			_, err := t.call(url.Values{"Action": {"DeleteSecurityGroup"}, "GroupId": {w.ids[i]}})
			return err
		}},
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}
