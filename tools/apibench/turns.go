package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// quiet silences run's line per phase: the trail comparison runs hundreds of blocks.
var quiet bool

// readBlock is how long one server reads before the other takes its turn.
const readBlock = 250 * time.Millisecond

// takeTurns runs the workload on two servers that take turns block by block — a block of
// calls on one, the same block on the other, the order alternating — for rounds rounds, each
// on a fresh pair from start, and prints each phase's rate on both (the calls of all its
// blocks over their time), their ratio and the quartiles of the blocks' own ratios. label
// names the two in the table's header.
//
// Taking turns is what makes a comparison hold on a shared machine. Run one after the other,
// two servers meet different disks and neighbours: the trail comparison's write phases, bound
// by fsync, moved by ±20 % from run to run, and a run against moto once found Stockade at a
// third of its rate of the run before. Block by block, both meet the same conditions within
// a second of each other, and the spread of the blocks' ratios says how far a figure can be
// trusted.
func takeTurns(label [2]string, start func() [2]*target, groups, conc int, d time.Duration, rounds, block int) {
	quiet = true
	defer func() { quiet = false }()
	type result struct {
		name   string
		sum    [2]phase // all blocks of all rounds, per server
		ratios []float64
	}
	var results []*result
	for r := range rounds {
		targets := start()
		for _, t := range targets {
			warm(t, warmGroups, conc)
		}
		loads := [2]*workload{newWorkload(targets[0], groups), newWorkload(targets[1], groups)}
		steps := [2][]step{loads[0].steps(), loads[1].steps()}
		for si := range steps[0] {
			if r == 0 {
				results = append(results, &result{name: steps[0][si].name})
			}
			res := results[si]
			blocks := (groups + block - 1) / block
			if !steps[0][si].write {
				blocks = max(1, int(d/readBlock))
			}
			stop := [2]func(){profilePhase(targets[0], label[0]+"-"+res.name), profilePhase(targets[1], label[1]+"-"+res.name)}
			for b := range blocks {
				order := []int{0, 1}
				if (b+r)%2 == 1 {
					order = []int{1, 0}
				}
				var got [2]phase
				for _, k := range order {
					s := steps[k][si]
					if s.write {
						from := b * block
						got[k] = measure(targets[k], s.name, conc, min(block, groups-from), 0, func(i int) error { return s.op(from + i) })
					} else {
						got[k] = measure(targets[k], s.name, conc, -1, readBlock, s.op)
					}
				}
				if got[0].rate() > 0 && got[1].rate() > 0 {
					res.ratios = append(res.ratios, 100*got[0].rate()/got[1].rate())
				}
				for k := range 2 {
					res.sum[k] = res.sum[k].add(got[k])
				}
			}
			stop[0]()
			stop[1]()
		}
		targets[0].stop()
		targets[1].stop()
	}
	fmt.Printf("\n%d groups, %d concurrent clients, %d rounds; the servers take turns every %d calls (writes) or %s (reads)\n\n",
		groups, conc, rounds, block, readBlock)
	a, b := label[0], label[1]
	fmt.Printf("| phase | %s ops/s | %s ops/s | %s / %s | blocks' %s / %s: quartiles (blocks) | %s p50 / p99 | %s p50 / p99 | KB written per call %s / %s | server CPU µs per call %s / %s |\n",
		a, b, a, b, a, b, a, b, a, b, a, b)
	fmt.Println("|---|---:|---:|---:|---|---:|---:|---:|---:|")
	for _, res := range results {
		x, y := res.sum[0], res.sum[1]
		q := quartiles(res.ratios)
		fmt.Printf("| %s | %.0f | %.0f | %.0f%% | %.0f%% / %.0f%% / %.0f%% (%d) | %s / %s | %s / %s | %.1f / %.1f | %.0f / %.0f |\n",
			res.name, x.rate(), y.rate(), 100*x.rate()/y.rate(), q[0], q[1], q[2], len(res.ratios),
			ms(x.pct(50)), ms(x.pct(99)), ms(y.pct(50)), ms(y.pct(99)), x.perOp(), y.perOp(), x.cpuPerOp(), y.cpuPerOp())
		for _, p := range res.sum {
			if p.errors > 0 {
				fmt.Printf("\n%s: %d errors (first: %s)\n", p.name, p.errors, p.firstErr)
			}
		}
	}
}

// compareTrail measures what the change trail costs the API: two fresh servers, the trail on
// (--trail) and off (--trail=false), taking turns.
func compareTrail(groups, conc int, d time.Duration, rounds, block int) {
	takeTurns([2]string{"trail on", "trail off"}, func() [2]*target {
		return [2]*target{startStockade(tempDir(), "--trail=true"), startStockade(tempDir(), "--trail=false")}
	}, groups, conc, d, rounds, block)
}

// variantArgs and variantEnv are what -variant-arg and -variant-env add to the variant server,
// variantBin (-variant-bin) the binary it runs instead of this checkout's.
var (
	variantArgs, variantEnv []string
	variantBin              string
)

// compareVariant measures the variant server (another binary, arguments or environment)
// against this checkout's Stockade as it is, taking turns: the way to see what a change or a
// setting does on a shared machine, where one run after another cannot.
func compareVariant(groups, conc int, d time.Duration, rounds, block int) {
	takeTurns([2]string{"variant", "baseline"}, func() [2]*target {
		base := startStockade(tempDir())
		bin := variantBin
		if bin == "" {
			bin = stockadeBin
		}
		return [2]*target{startStockadeBin(bin, tempDir(), variantEnv, variantArgs...), base}
	}, groups, conc, d, rounds, block)
}

// compareMoto measures Stockade against moto's server, taking turns.
func compareMoto(groups, conc int, d time.Duration, rounds, block int) {
	takeTurns([2]string{"stockade", "moto"}, func() [2]*target {
		return [2]*target{startStockade(tempDir()), startMoto()}
	}, groups, conc, d, rounds, block)
}

// compareReplica measures what publishing reads' trail records to the other servers costs
// Stockade on an etcd cluster of members (trail/replica.go): two servers on the one cluster,
// each under a prefix of its own, one with the default replica budget and one with reads not
// published (--trail-replica-read-bytes=-1), taking turns. A round's pair gets fresh prefixes.
func compareReplica(members, groups, conc int, d time.Duration, rounds, block int) {
	cluster := startEtcd(members)
	defer cluster.stop()
	endpoints := strings.Join(cluster.endpoints, ",")
	round := 0
	takeTurns([2]string{"reads replicated", "reads not replicated"}, func() [2]*target {
		round++
		return [2]*target{
			startStockade(tempDir(), "--etcd-endpoints", endpoints, "--etcd-prefix", fmt.Sprintf("/apibench-%d-replica/", round)),
			startStockade(tempDir(), "--etcd-endpoints", endpoints, "--etcd-prefix", fmt.Sprintf("/apibench-%d-noreplica/", round),
				"--trail-replica-read-bytes=-1"),
		}
	}, groups, conc, d, rounds, block)
}

// add is p and q as one phase: their calls, their time, what the server wrote and spent.
func (p phase) add(q phase) phase {
	p.name = q.name
	p.elapsed += q.elapsed
	p.lat = append(p.lat, q.lat...)
	p.errors += q.errors
	if p.firstErr == "" {
		p.firstErr = q.firstErr
	}
	if p.written >= 0 && q.written >= 0 {
		p.written += q.written
	} else {
		p.written = -1
	}
	if p.cpu >= 0 && q.cpu >= 0 {
		p.cpu += q.cpu
	} else {
		p.cpu = -1
	}
	return p
}

// quartiles are the 25th, 50th and 75th percentiles of xs.
func quartiles(xs []float64) [3]float64 {
	if len(xs) == 0 {
		return [3]float64{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	at := func(f float64) float64 { return s[min(len(s)-1, int(f*float64(len(s))))] }
	return [3]float64{at(0.25), median(s), at(0.75)}
}

// warmGroups is -warm: groups each server creates, authorizes and deletes before a round's
// measured phases.
var warmGroups int

// warm runs the workload's writes for n groups of their own against t, unmeasured: the
// server's heap grows to its collector's floor (64 MB) under them, and on this VM every page
// it touches for the first time costs a fault that the measured blocks would otherwise pay.
// The groups are deleted, so the measured phases find the state a fresh server has.
func warm(t *target, n, conc int) {
	if n <= 0 {
		return
	}
	w := newWorkload(t, n)
	w.prefix += "-warm"
	for _, s := range w.steps() {
		if !s.write {
			continue
		}
		if p := run(s.name, conc, n, 0, s.op); p.errors > 0 {
			fmt.Fprintf(os.Stderr, "warming %s: %s: %d errors (first: %s)\n", t.name, s.name, p.errors, p.firstErr)
		}
	}
}
