package main

import (
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// compareEtcd runs the workload against Stockade on an n-member etcd cluster it starts on
// loopback (Debian's etcd-server package: `apt-get install etcd-server`), against Stockade on
// its embedded store, and against moto, one after the other, and prints the three side by
// side: what several hosts cost an API server.
func compareEtcd(members, groups, conc int, d time.Duration, skipMoto bool) {
	cluster := startEtcd(members)
	defer cluster.stop()
	type run struct {
		name   string
		phases []phase
	}
	var runs []run
	st := startStockade(tempDir())
	runs = append(runs, run{"embedded", runWorkload(st, groups, conc, d)})
	st.stop()
	se := startStockade(tempDir(), "--etcd-endpoints", strings.Join(cluster.endpoints, ","))
	runs = append(runs, run{fmt.Sprintf("etcd ×%d", members), runWorkload(se, groups, conc, d)})
	se.stop()
	// The same without publishing reads' trail records to the other servers (they are
	// published within a budget by default, trail/replica.go): what the trail's replication
	// costs the describe phases.
	sn := startStockade(tempDir(), "--etcd-endpoints", strings.Join(cluster.endpoints, ","), "--etcd-prefix", "/apibench-noreplica/",
		"--trail-replica-read-bytes=-1")
	runs = append(runs, run{fmt.Sprintf("etcd ×%d, reads not replicated", members), runWorkload(sn, groups, conc, d)})
	sn.stop()
	if !skipMoto {
		m := startMoto()
		runs = append(runs, run{"moto", runWorkload(m, groups, conc, d)})
		m.stop()
	}
	fmt.Printf("\n%d groups, %d concurrent clients, describe phases %s each; etcd: %d members on loopback\n\n", groups, conc, d, members)
	head, rule := "| phase |", "|---|"
	for _, r := range runs {
		head += fmt.Sprintf(" %s ops/s | %s p50 / p99 |", r.name, r.name)
		rule += "---:|---:|"
	}
	if !skipMoto {
		head += " etcd / moto | embedded / moto |"
		rule += "---:|---:|"
	}
	fmt.Println(head)
	fmt.Println(rule)
	for i, p := range runs[0].phases {
		line := "| " + p.name + " |"
		for _, r := range runs {
			q := r.phases[i]
			line += fmt.Sprintf(" %.0f | %s / %s |", q.rate(), ms(q.pct(50)), ms(q.pct(99)))
		}
		if !skipMoto {
			m := runs[len(runs)-1].phases[i].rate()
			line += fmt.Sprintf(" %.0f× | %.0f× |", runs[1].phases[i].rate()/m, p.rate()/m)
		}
		fmt.Println(line)
	}
	for _, r := range runs {
		for _, p := range r.phases {
			if p.errors > 0 {
				fmt.Printf("\n%s %s: %d errors (first: %s)\n", r.name, p.name, p.errors, p.firstErr)
			}
		}
	}
}

// etcdCluster is n etcd processes on loopback, each with its data in a temporary directory.
type etcdCluster struct {
	endpoints []string
	procs     []*exec.Cmd
	dir       string
}

func startEtcd(n int) *etcdCluster {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		log.Fatal("-etcd needs the etcd binary (apt-get install etcd-server)")
	}
	c := &etcdCluster{dir: tempDir()}
	var peers, clients []string
	for range n {
		clients, peers = append(clients, "http://"+freeAddr()), append(peers, "http://"+freeAddr())
	}
	initial := make([]string, n)
	for i := range n {
		initial[i] = fmt.Sprintf("m%d=%s", i, peers[i])
	}
	for i := range n {
		logf, err := os.Create(filepath.Join(c.dir, fmt.Sprintf("m%d.log", i)))
		if err != nil {
			log.Fatal(err)
		}
		cmd := exec.Command(bin, "--name", fmt.Sprintf("m%d", i), "--data-dir", filepath.Join(c.dir, fmt.Sprintf("m%d", i)),
			"--listen-client-urls", clients[i], "--advertise-client-urls", clients[i],
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-token", "apibench",
			"--initial-cluster-state", "new")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			log.Fatalf("start etcd: %v", err)
		}
		c.procs = append(c.procs, cmd)
	}
	c.endpoints = clients
	// Ready when a member answers its health endpoint (it needs a quorum to say so).
	deadline := time.Now().Add(time.Minute)
	for _, ep := range clients {
		for {
			if out, err := exec.Command("curl", "-s", ep+"/health").Output(); err == nil && strings.Contains(string(out), `"true"`) {
				break
			}
			if time.Now().After(deadline) {
				c.stop()
				log.Fatalf("etcd not healthy after a minute (logs in %s)", c.dir)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	log.Printf("etcd: %d members at %s", n, strings.Join(clients, ","))
	return c
}

func (c *etcdCluster) stop() {
	for _, p := range c.procs {
		p.Process.Kill()
		p.Wait()
	}
	os.RemoveAll(c.dir)
}
