package dataplane_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// fullQuotas is a VPC at AWS's quotas: n interfaces in four /18 subnets, each with five of
// the groups; every group has 60 ingress rules (CIDR rules on scattered ports, group
// references, a prefix list) and 5 egress rules; every subnet has an ACL of 20 entries per
// direction whose allow comes last. Interfaces 0 and 1 (in different subnets) can talk on
// TCP and UDP 5201 and 9000 only through the last rule of their last group.
func fullQuotas(n, groups int) dataplane.Network { return network(n, groups, 57) }

// network is fullQuotas with cidrRules CIDR rules per group instead of 57.
func network(n, groups, cidrRules int) dataplane.Network {
	vpc := &model.VPC{ID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.0.0/16")}
	var subnets []*model.Subnet
	for i := range 4 {
		subnets = append(subnets, &model.Subnet{ID: fmt.Sprintf("subnet-%d", i), VpcID: "vpc-1", CIDR: netip.MustParsePrefix(fmt.Sprintf("10.0.%d.0/18", i*64))})
	}
	pl := &model.PrefixList{ID: "pl-1"}
	for i := range 60 {
		pl.Entries = append(pl.Entries, model.PLEntry{CIDR: netip.MustParsePrefix(fmt.Sprintf("172.16.%d.0/24", i))})
	}
	var gs []*model.Group
	for g := range groups {
		grp := &model.Group{ID: fmt.Sprintf("sg-%d", g), VpcID: "vpc-1"}
		for r := range cidrRules {
			grp.Ingress = append(grp.Ingress, rule("tcp", int32(1000+r*7), int32(1000+r*7+3), cidr(fmt.Sprintf("192.168.%d.0/24", (g+r)%256))))
		}
		grp.Ingress = append(grp.Ingress,
			rule("udp", 53, 53, ref(fmt.Sprintf("sg-%d", (g+1)%groups))),
			rule("tcp", 443, 443, model.Peer{PrefixListID: "pl-1"}))
		// The last rule admits what the benchmark sends: the whole VPC on 5201 and 9000.
		grp.Ingress = append(grp.Ingress, rule("-1", -1, -1, cidr("10.0.0.0/16")))
		for r := range 4 {
			grp.Egress = append(grp.Egress, rule("tcp", int32(2000+r), int32(2000+r), cidr(fmt.Sprintf("203.0.113.%d/32", r))))
		}
		grp.Egress = append(grp.Egress, rule("-1", -1, -1, cidr("10.0.0.0/16")))
		gs = append(gs, grp)
	}
	var enis []*model.NetworkInterface
	for i := range n {
		sn := subnets[i%4]
		a := sn.CIDR.Addr().As4()
		a[2] += byte((10 + i/4) >> 8)
		a[3] = byte(10 + i/4)
		e := &model.NetworkInterface{ID: fmt.Sprintf("eni-%04d", i), VpcID: "vpc-1", SubnetID: sn.ID, PrivateIP: netip.AddrFrom4(a),
			MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff)}
		for k := range 5 {
			e.Groups = append(e.Groups, gs[(i*5+k)%groups].ID)
		}
		enis = append(enis, e)
	}
	var acls []*model.NACL
	for i, sn := range subnets {
		acl := &model.NACL{ID: fmt.Sprintf("acl-%d", i), VpcID: "vpc-1", Assocs: []model.NACLAssoc{{ID: fmt.Sprintf("aclassoc-%d", i), SubnetID: sn.ID}}}
		for _, egress := range []bool{false, true} {
			for r := range 18 {
				// SSH is denied from and to part of every subnet: the ACLs restrict traffic
				// between the subnets, so every packet is looked up in them.
				acl.Entries = append(acl.Entries, model.NACLEntry{RuleNumber: 100 + r, Egress: egress, Protocol: "6", CIDR: netip.MustParsePrefix(fmt.Sprintf("10.0.%d.0/24", r*14)),
					HasPorts: true, FromPort: 22, ToPort: 22})
			}
			acl.Entries = append(acl.Entries,
				model.NACLEntry{RuleNumber: 200, Egress: egress, Protocol: "-1", Allow: true, CIDR: vpc.CIDR},
				model.NACLEntry{RuleNumber: 32767, Egress: egress, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")})
		}
		acls = append(acls, acl)
	}
	return dataplane.Network{VPC: vpc, Snapshot: netmap.Snapshot{VPCs: []*model.VPC{vpc}, Subnets: subnets, ENIs: enis, Groups: gs,
		PrefixLists: []*model.PrefixList{pl}, NACLs: acls}}
}

// BenchmarkRender is the agent's CPU cost per change at 1,000 interfaces and 2,500 groups.
func BenchmarkRender(b *testing.B) {
	n := fullQuotas(1000, 2500)
	n.Link = func(e string) string { return "stk" + e[4:] }
	b.ReportAllocs()
	for b.Loop() {
		dataplane.Render(n)
	}
}

// BenchmarkProgramFromEmpty is the time to program a router from nothing: render 1,000
// interfaces with 2,500 groups and load it in one transaction, with every group at the rule
// quota (60 ingress rules: 162,500 rules in all) and with 10 ingress rules a group.
func BenchmarkProgramFromEmpty(b *testing.B) {
	for _, rules := range []int{57, 7} {
		b.Run(fmt.Sprintf("ingress-rules=%d", rules+3), func(b *testing.B) { programFromEmpty(b, rules) })
	}
}

func programFromEmpty(b *testing.B, cidrRules int) {
	l := newKernelLab(b)
	n := network(1000, 2500, cidrRules)
	n.Link = l.names.Link
	var objects, bytes int
	for b.Loop() {
		rs := dataplane.Render(n)
		tx := rs.Replace()
		objects, bytes = rs.Len(), len(tx)
		l.apply(tx)
		b.StopTimer()
		l.apply("delete table inet stockade\n") // from empty again
		b.StartTimer()
	}
	b.ReportMetric(float64(objects), "objects")
	b.ReportMetric(float64(bytes)/1e6, "MB-of-nft")
}

// BenchmarkUpdateMembership is one membership change at that size: render, diff, apply.
func BenchmarkUpdateMembership(b *testing.B) {
	l := newKernelLab(b)
	n := fullQuotas(1000, 2500)
	n.Link = l.names.Link
	var r dataplane.Renderer
	prev := r.Render(n)
	l.apply(prev.Replace())
	i := 0
	for b.Loop() {
		changeMembership(&n, i)
		rs := r.Render(n)
		tx, ok := rs.Update(prev)
		if !ok {
			b.Fatal("no update")
		}
		l.apply(tx)
		prev = rs
		i++
	}
}

// BenchmarkPacketCost measures traffic between two lab instances in different subnets with no
// filter (no table in the router), with connection tracking alone, and with the full-quota
// ruleset of 1,000 interfaces, where
// the flow is admitted only by the last rule of the last group and the last ACL entry:
// UDP packets/s and TCP stream throughput with iperf3, new TCP connections/s with a Go client.
// Mode "internet" is the first instance, which has a public address, to the internet host
// through the internet gateway's translation (route realm, SNAT and its reverse) with the
// same full-quota ruleset, the internet host admitted by the last rule and ACL entry too: its
// ratio to "full" is the cost of the gateway's translation over a flow inside the VPC. Mode
// "flowlogs" is "full" with both interfaces covered by flow logs (flowlog.go): its ratio to
// "full" is what recording costs per packet.
func BenchmarkPacketCost(b *testing.B) {
	l := newKernelLab(b)
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Skip("iperf3 is missing (apt-get install iperf3)")
	}
	n := fullQuotas(1000, 2500)
	n.Link = l.names.Link
	var ns [2]string
	for i := range 2 {
		e := n.Snapshot.ENIs[i]
		ns[i] = l.attach(e, n.Snapshot.Subnets[i%4].CIDR)
	}
	if err := netlab.EnableForwarding(context.Background(), l.router); err != nil {
		b.Fatal(err)
	}
	server := n.Snapshot.ENIs[1].PrivateIP
	iperf := exec.Command("nsenter", "--net="+netlab.Path(ns[1]), "--", "iperf3", "-s", "-p", "5201")
	if err := iperf.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { iperf.Process.Kill(); iperf.Wait() })
	time.Sleep(300 * time.Millisecond) // iperf3 needs a moment to listen
	srv, err := netlab.Serve(ns[1], 9000)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	rules := dataplane.Render(n).Replace()
	// Mode "flowlogs" is the full ruleset with both interfaces covered by flow logs with
	// ${tcp-flags}: accounting and timestamps are on in every mode (EnableForwarding), so
	// what it adds is the log rules on the way (SYN, FIN and RST copied to NFLOG, rate-guarded)
	// and a reader draining the groups, as the agent's recorder does.
	fl := n
	fl.FlowLogs = map[string]bool{n.Snapshot.ENIs[0].ID: true, n.Snapshot.ENIs[1].ID: true}
	fl.FlowLogFlags = fl.FlowLogs
	flRules := dataplane.Render(fl).Replace()
	lr, err := l.k.OpenLog(l.router, dataplane.LogGroupRejected, dataplane.LogGroupFlags)
	if err != nil {
		b.Fatal(err)
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			if _, err := lr.Read(); err != nil && !errors.Is(err, dataplane.ErrLogOverrun) {
				return
			}
		}
	}()
	b.Cleanup(func() { lr.Close(); <-drained })
	inetRules, inetNS := internetBench(b, l, n)
	iperfInet := exec.Command("nsenter", "--net="+netlab.Path(inetNS), "--", "iperf3", "-s", "-p", "5201")
	if err := iperfInet.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { iperfInet.Process.Kill(); iperfInet.Wait() })
	time.Sleep(300 * time.Millisecond)
	srvInet, err := netlab.Serve(inetNS, 9000)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srvInet.Close)
	// conntrack-only is the cost of stateful tracking alone (AWS's semantics need it): a table
	// that accepts everything through conntrack.
	conntrackOnly := "table inet stockade {}\ndelete table inet stockade\ntable inet stockade {\n\tchain forward {\n" +
		"\t\ttype filter hook forward priority filter; policy accept\n\t\tct state established,related accept\n\t\tct state new accept\n\t}\n}\n"
	// The machine's speed drifts (shared cores): modes are interleaved round by round and
	// each figure is the median over rounds, reported with its ratio to no filter.
	modes := []string{"nofilter", "ctonly", "full", "flowlogs", "internet"}
	apply := map[string]string{"nofilter": "table inet stockade {}\ndelete table inet stockade\n", "ctonly": conntrackOnly, "full": rules, "flowlogs": flRules, "internet": inetRules}
	samples := map[string][]float64{}
	for b.Loop() {
		for _, mode := range modes {
			l.apply(apply[mode])
			server := server
			if mode == "internet" {
				server = netlab.InternetHost
			}
			u := runIperf(b, ns[0], server, "-u", "-b", "0", "-l", "64")
			samples["udp-pps-"+mode] = append(samples["udp-pps-"+mode], u.End.Sum.Packets/u.End.Sum.Seconds)
			t := runIperf(b, ns[0], server)
			samples["tcp-Gbps-"+mode] = append(samples["tcp-Gbps-"+mode], t.End.SumReceived.BitsPerSecond/1e9)
			samples["conn-per-s-"+mode] = append(samples["conn-per-s-"+mode], connectRate(b, ns[0], netip.AddrPortFrom(server, 9000), 2*time.Second))
		}
	}
	median := func(xs []float64) float64 { xs = slices.Clone(xs); slices.Sort(xs); return xs[len(xs)/2] }
	for _, metric := range []string{"udp-pps", "tcp-Gbps", "conn-per-s"} {
		base := median(samples[metric+"-nofilter"])
		for _, mode := range modes {
			m := median(samples[metric+"-"+mode])
			b.ReportMetric(m, metric+"-"+mode)
			if mode != "nofilter" {
				b.ReportMetric(m/base, metric+"-"+mode+"/nofilter")
			}
			if mode == "internet" || mode == "flowlogs" {
				b.ReportMetric(m/median(samples[metric+"-full"]), metric+"-"+mode+"/full")
			}
		}
	}
}

// internetBench links the lab's router to a fresh internet namespace and returns the
// full-quota ruleset with the internet gateway (n's first interface has a public
// address and its subnet a default route to the gateway; the last rule of its groups and the
// last allow of its subnet's ACL admit the internet host) and the internet namespace.
func internetBench(b *testing.B, l *kernelLab, n dataplane.Network) (string, string) {
	ctx := context.Background()
	inet := l.names.Internet()
	if _, err := netlab.CreateInternet(ctx, inet); err != nil {
		b.Fatal(err)
	}
	up := l.names.UplinkOf(n.VPC.ID)
	if _, err := netlab.AttachInternet(ctx, l.router, up); err != nil {
		b.Fatal(err)
	}
	e := n.Snapshot.ENIs[0]
	pub := netip.MustParseAddr("198.51.100.10")
	if err := netlab.SetPublic(ctx, up, []netip.Prefix{netip.PrefixFrom(pub, 32)}); err != nil {
		b.Fatal(err)
	}
	var sn netip.Prefix
	for _, s := range n.Snapshot.Subnets {
		if s.ID == e.SubnetID {
			sn = s.CIDR
		}
	}
	rt := netlab.RouteTable{Table: netlab.TableNumber("rtb-bench"), Subnets: []netip.Prefix{sn.Masked()}, Routes: []netlab.Route{
		{Dst: n.VPC.CIDR, Target: netlab.TargetLocal}, {Dst: netip.MustParsePrefix("0.0.0.0/0"), Target: netlab.TargetGateway}}}
	if err := netlab.SetRoutes(ctx, l.router, up.Link, []netlab.RouteTable{rt}, nil); err != nil {
		b.Fatal(err)
	}
	host := cidr(netip.PrefixFrom(netlab.InternetHost, 32).String())
	n.Snapshot.Groups = slices.Clone(n.Snapshot.Groups)
	for i, g := range n.Snapshot.Groups {
		if slices.Contains(e.Groups, g.ID) {
			g = g.Clone()
			g.Ingress = append(g.Ingress, rule("-1", -1, -1, host))
			g.Egress = append(g.Egress, rule("-1", -1, -1, host))
			n.Snapshot.Groups[i] = g
		}
	}
	n.Snapshot.NACLs = slices.Clone(n.Snapshot.NACLs)
	for i, acl := range n.Snapshot.NACLs {
		if acl.Assocs[0].SubnetID == e.SubnetID {
			acl = acl.Clone()
			for _, egress := range []bool{false, true} {
				acl.Entries = append(acl.Entries, model.NACLEntry{RuleNumber: 300, Egress: egress, Protocol: "-1", Allow: true,
					CIDR: netip.PrefixFrom(netlab.InternetHost, 32)})
			}
			n.Snapshot.NACLs[i] = acl
		}
	}
	n.Internet = dataplane.Internet{Link: up.Link, Public: map[netip.Addr]netip.Addr{pub: e.PrivateIP}}
	return dataplane.Render(n).Replace(), inet
}

type iperfResult struct {
	End struct {
		Sum struct {
			Packets     float64 `json:"packets"`
			Seconds     float64 `json:"seconds"`
			LostPercent float64 `json:"lost_percent"`
		} `json:"sum"`
		SumReceived struct {
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
}

func runIperf(b *testing.B, ns string, server netip.Addr, args ...string) iperfResult {
	b.Helper()
	argv := append([]string{"--net=" + netlab.Path(ns), "--", "iperf3", "-c", server.String(), "-p", "5201", "-t", "2", "-J"}, args...)
	out, err := exec.Command("nsenter", argv...).Output()
	if err != nil {
		b.Fatalf("iperf3: %v\n%s", err, out)
	}
	var r iperfResult
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatal(err)
	}
	return r
}

// connectRate opens and closes TCP connections from ns to addr with 4 workers for d and
// returns completed connections per second.
func connectRate(b *testing.B, ns string, to netip.AddrPort, d time.Duration) float64 {
	var done atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = netlab.Do(ns, func() error {
				for time.Now().Before(stop) {
					c, err := net.DialTimeout("tcp", to.String(), time.Second)
					if err != nil {
						continue
					}
					if tc, ok := c.(*net.TCPConn); ok {
						tc.SetLinger(0) // RST instead of TIME_WAIT: measure connections, not port exhaustion
					}
					c.Close()
					done.Add(1)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	return float64(done.Load()) / d.Seconds()
}

// changeMembership is the i-th membership change of the full-quota network of 1,000
// interfaces and 2,500 groups: one interface's first group is swapped for another.
func changeMembership(n *dataplane.Network, i int) {
	e := n.Snapshot.ENIs[i%1000].Clone()
	e.Groups[0] = fmt.Sprintf("sg-%d", (i*7)%2500)
	n.Snapshot.ENIs[i%1000] = e
}

// BenchmarkRenderChange is the agent's CPU cost for one membership change at 1,000
// interfaces and 2,500 groups: render with the cache, then compute the in-place update.
func BenchmarkRenderChange(b *testing.B) {
	n := fullQuotas(1000, 2500)
	n.Link = func(e string) string { return "stk" + e[4:] }
	var r dataplane.Renderer
	prev := r.Render(n)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		changeMembership(&n, i)
		rs := r.Render(n)
		if _, ok := rs.Update(prev); !ok {
			b.Fatal("no update")
		}
		prev = rs
		i++
	}
}
