package main

import (
	"fmt"
	"log"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// runScale loads 10,000 groups with 20 rules each into Stockade, then measures a filtered
// DescribeSecurityGroups, the server's resident memory and its start-up time on that data.
func runScale(conc int) {
	const groups, rules = 10000, 20
	dir := tempDir()
	t := startStockade(dir)
	ids := make([]string, groups)
	load := run("load: create 10,000 groups", conc, groups, 0, func(i int) error {
		p := url.Values{"Action": {"CreateSecurityGroup"}, "GroupName": {fmt.Sprintf("g-%05d", i)}, "GroupDescription": {"scale"}}
		if i%1000 == 0 { // ten groups carry the tag the filter looks for
			p.Set("TagSpecification.1.ResourceType", "security-group")
			p.Set("TagSpecification.1.Tag.1.Key", "team")
			p.Set("TagSpecification.1.Tag.1.Value", "payments")
		}
		body, err := t.call(p)
		ids[i] = between(body, "<groupId>", "</groupId>")
		return err
	})
	auth := run("load: 20 rules per group", conc, groups, 0, func(i int) error {
		p := url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "GroupId": {ids[i]}}
		for r := 1; r <= rules; r++ {
			k := fmt.Sprintf("IpPermissions.%d.", r)
			p.Set(k+"IpProtocol", "tcp")
			p.Set(k+"FromPort", strconv.Itoa(1000+r))
			p.Set(k+"ToPort", strconv.Itoa(1000+r))
			p.Set(k+"IpRanges.1.CidrIp", fmt.Sprintf("10.%d.%d.0/24", i%250, r))
		}
		_, err := t.call(p)
		return err
	})
	byTag := run("filtered: tag:team (10 of 10,000)", 1, 500, 0, func(int) error {
		_, err := t.call(url.Values{"Action": {"DescribeSecurityGroups"}, "Filter.1.Name": {"tag:team"}, "Filter.1.Value.1": {"payments"}})
		return err
	})
	byName := run("filtered: group-name (1 of 10,000)", 1, 500, 0, func(int) error {
		_, err := t.call(url.Values{"Action": {"DescribeSecurityGroups"}, "Filter.1.Name": {"group-name"}, "Filter.1.Value.1": {fmt.Sprintf("g-%05d", rand.IntN(groups))}})
		return err
	})
	byRule := run("filtered: ip-permission.cidr", 1, 500, 0, func(int) error {
		_, err := t.call(url.Values{"Action": {"DescribeSecurityGroups"}, "Filter.1.Name": {"ip-permission.cidr"}, "Filter.1.Value.1": {"10.7.3.0/24"}})
		return err
	})
	loadedRSS := rss(t.cmd.Process.Pid)
	time.Sleep(3 * time.Second) // let the Go runtime return freed memory
	idleRSS := rss(t.cmd.Process.Pid)
	t.dataDir = "" // the restarts below start on this data; removed at the end
	t.stop()
	var starts, firsts, lookups []time.Duration
	var afterStart, afterFirst, settled memory
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		s := startStockade(dir)
		starts = append(starts, time.Since(t0))
		afterStart = rss(s.cmd.Process.Pid)
		// The trail's log is read once the state has loaded, while the API serves: its first
		// lookup waits for that.
		lookup := make(chan time.Duration, 1)
		go func() {
			if err := s.lookupEvents(); err != nil {
				log.Fatalf("LookupEvents after a restart: %v", err)
			}
			lookup <- time.Since(t0)
		}()
		// An account is loaded at its first request (or at the continuous audit's first
		// timed pass): what the server holds then, and how long that request takes.
		t1 := time.Now()
		if _, err := s.call(url.Values{"Action": {"DescribeSecurityGroups"}, "Filter.1.Name": {"tag:team"}, "Filter.1.Value.1": {"payments"}}); err != nil {
			log.Fatalf("first request after a restart: %v", err)
		}
		firsts = append(firsts, time.Since(t1))
		lookups = append(lookups, <-lookup)
		afterFirst = rss(s.cmd.Process.Pid)
		if i == 2 {
			// The continuous audit's timed passes (they read the day's rule changes) run at
			// the start, where the first also builds every audit whole and stores their
			// history, and a minute later.
			time.Sleep(75 * time.Second)
			settled = rss(s.cmd.Process.Pid)
		}
		s.dataDir = ""
		s.stop()
	}
	fmt.Printf("\n10,000 groups × 20 ingress rules (plus each group's egress rule), %d concurrent loaders\n\n", conc)
	fmt.Println("| measurement | result |")
	fmt.Println("|---|---:|")
	fmt.Printf("| load: CreateSecurityGroup | %.0f/s |\n", load.rate())
	fmt.Printf("| load: AuthorizeSecurityGroupIngress, 20 rules per call | %.0f/s |\n", auth.rate())
	for _, p := range []phase{byTag, byName, byRule} {
		fmt.Printf("| DescribeSecurityGroups %s, p50 / p99 | %s / %s |\n", p.name[len("filtered: "):], ms(p.pct(50)), ms(p.pct(99)))
	}
	fmt.Printf("| server RSS after loading | %s |\n", loadedRSS)
	fmt.Printf("| server RSS idle after loading | %s |\n", idleRSS)
	fmt.Printf("| server RSS right after a restart | %s |\n", afterStart)
	fmt.Printf("| server RSS after the first request (the account loaded) | %s |\n", afterFirst)
	fmt.Printf("| server RSS 75 s after the last restart, idle (the audit's timed passes done) | %s |\n", settled)
	fmt.Printf("| start-up on that data (process start → /healthz), 3 runs | %s |\n", strings.Trim(fmt.Sprint(starts), "[]"))
	fmt.Printf("| the first request after start-up (loads the account), 3 runs | %s |\n", strings.Trim(fmt.Sprint(firsts), "[]"))
	fmt.Printf("| process start → a LookupEvents sent at /healthz answered (the trail's log read), 3 runs | %s |\n", strings.Trim(fmt.Sprint(lookups), "[]"))
	for _, p := range []phase{load, auth, byTag, byName, byRule} {
		if p.errors > 0 {
			fmt.Printf("\n%s: %d errors (first: %s)\n", p.name, p.errors, p.firstErr)
		}
	}
	if os.Getenv("APIBENCH_KEEP") != "" {
		fmt.Printf("\ndata kept in %s\n", dir)
		return
	}
	os.RemoveAll(dir)
}

// memory is a process's resident set from /proc: total, anonymous (heap) and file-backed
// (the binary and the store's memory map), in KiB.
type memory struct{ total, anon, file int }

func (m memory) String() string {
	return fmt.Sprintf("%d MB (heap and other anonymous %d MB, mapped files %d MB)", m.total>>10, m.anon>>10, m.file>>10)
}

func rss(pid int) memory {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		log.Fatal(err)
	}
	var m memory
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			m.total = n
		case "RssAnon:":
			m.anon = n
		case "RssFile:":
			m.file = n
		}
	}
	return m
}
