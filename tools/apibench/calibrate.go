package main

import (
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"
)

// calibrate measures how close Stockade's DescribeSecurityGroups by ID comes to the limit of
// this machine and this client: the same client, workers and request, against a server that
// does nothing but return a canned reply — the very bytes Stockade answered for one of the
// groups. Client and server share the machine's cores, so the canned server's rate is the
// ceiling; Stockade's as a fraction of it says how much of the cost is Stockade's own
// (issue 17's goal: ≥ 75%). The canned server is this program re-run with -serve-canned, a
// process of its own as Stockade is, and a Go net/http server as Stockade's is.
func calibrate(groups, conc int, d time.Duration, rounds int) {
	st := startStockade(tempDir())
	defer st.stop()
	ids := make([]string, groups)
	run("CreateSecurityGroup", conc, groups, 0, func(i int) error {
		body, err := st.call(url.Values{"Action": {"CreateSecurityGroup"}, "GroupName": {fmt.Sprintf("cal-%05d", i)}, "GroupDescription": {"bench"}})
		ids[i] = between(body, "<groupId>", "</groupId>")
		return err
	})
	reply, err := st.call(url.Values{"Action": {"DescribeSecurityGroups"}, "GroupId.1": {ids[0]}})
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.CreateTemp("", "apibench-canned-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(reply); err != nil {
		log.Fatal(err)
	}
	f.Close()
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	addr := freeAddr()
	canned := newTarget("canned", addr, exec.Command(self, "-serve-canned", f.Name(), "-listen", addr))
	defer canned.stop()
	canned.akid, canned.secret = st.akid, st.secret // signed the same way; the canned server ignores it

	describe := func(t *target) phase {
		return run("DescribeSecurityGroups by ID ("+t.name+")", conc, -1, d, func(int) error {
			_, err := t.call(url.Values{"Action": {"DescribeSecurityGroups"}, "GroupId.1": {ids[rand.IntN(groups)]}})
			return err
		})
	}
	// Alternate which goes first, as compareTrail does: whatever the machine does meanwhile
	// falls on both.
	var ratios, sRates, cRates []float64
	var each []string
	for r := range rounds {
		var s, c phase
		if r%2 == 0 {
			c, s = describe(canned), describe(st)
		} else {
			s, c = describe(st), describe(canned)
		}
		if s.errors > 0 || c.errors > 0 {
			log.Fatalf("errors: stockade %d (%s), canned %d (%s)", s.errors, s.firstErr, c.errors, c.firstErr)
		}
		sRates, cRates = append(sRates, s.rate()), append(cRates, c.rate())
		ratios = append(ratios, 100*s.rate()/c.rate())
		each = append(each, fmt.Sprintf("%.0f%%", ratios[r]))
	}
	fmt.Printf("\n%d groups, %d concurrent clients, %s per phase, %d rounds (medians)\n\n", groups, conc, d, rounds)
	fmt.Println("| phase | canned reply ops/s | Stockade ops/s | Stockade / canned | rounds |")
	fmt.Println("|---|---:|---:|---:|---|")
	fmt.Printf("| DescribeSecurityGroups by ID | %.0f | %.0f | %.0f%% | %s |\n", median(cRates), median(sRates), median(ratios), strings.Join(each, ", "))
}

// serveCanned is the canned server: every request's body is read and answered with the file's
// bytes as a 200 text/xml reply, as EC2 (and Stockade) answer a Query call.
func serveCanned(path, addr string) {
	body, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	length := fmt.Sprint(len(body))
	log.Fatal(http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		w.Header().Set("Content-Length", length)
		_, _ = w.Write(body)
	})))
}
