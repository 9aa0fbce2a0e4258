package main

import (
	"fmt"
	"slices"
	"time"
)

// quiet silences run's line per phase: the trail comparison runs hundreds of blocks.
var quiet bool

// readBlock is how long one server reads before the other takes its turn.
const readBlock = 250 * time.Millisecond

// compareTrail measures what the change trail costs the API: two fresh servers, the trail on
// (--trail) and off (--trail=false), both running, take turns block by block through the same
// workload — a block of calls on one, the same block on the other, the order alternating — and
// each phase's rate is the calls of all its blocks over their time.
//
// Taking turns is what makes the comparison hold on a shared machine. Run one after the
// other, the two servers met different disks and neighbours: the write phases, bound by
// fsync, moved by ±20 % from run to run, more than the 10 % the target allows. Block by
// block, both meet the same conditions within a second of each other, and the spread of the
// blocks' ratios (reported as quartiles) says how far the figure can be trusted.
func compareTrail(groups, conc int, d time.Duration, rounds, block int) {
	quiet = true
	defer func() { quiet = false }()
	type result struct {
		name   string
		sum    [2]phase // on, off: all blocks of all rounds
		ratios []float64
	}
	var results []*result
	for r := range rounds {
		on := startStockade(tempDir(), "--trail=true")
		off := startStockade(tempDir(), "--trail=false")
		targets := [2]*target{on, off}
		loads := [2]*workload{newWorkload(on, groups), newWorkload(off, groups)}
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
			stop := [2]func(){profilePhase(on, "trail-on-"+res.name), profilePhase(off, "trail-off-"+res.name)}
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
		on.stop()
		off.stop()
	}
	fmt.Printf("\n%d groups, %d concurrent clients, %d rounds; the servers take turns every %d calls (writes) or %s (reads)\n\n",
		groups, conc, rounds, block, readBlock)
	fmt.Println("| phase | trail on ops/s | trail off ops/s | on / off | blocks' on / off: quartiles (blocks) | on p50 / p99 | off p50 / p99 | KB written per call on / off | server CPU µs per call on / off |")
	fmt.Println("|---|---:|---:|---:|---|---:|---:|---:|---:|")
	for _, res := range results {
		on, off := res.sum[0], res.sum[1]
		q := quartiles(res.ratios)
		fmt.Printf("| %s | %.0f | %.0f | %.0f%% | %.0f%% / %.0f%% / %.0f%% (%d) | %s / %s | %s / %s | %.1f / %.1f | %.0f / %.0f |\n",
			res.name, on.rate(), off.rate(), 100*on.rate()/off.rate(), q[0], q[1], q[2], len(res.ratios),
			ms(on.pct(50)), ms(on.pct(99)), ms(off.pct(50)), ms(off.pct(99)), on.perOp(), off.perOp(), on.cpuPerOp(), off.cpuPerOp())
		for _, p := range res.sum {
			if p.errors > 0 {
				fmt.Printf("\n%s: %d errors (first: %s)\n", p.name, p.errors, p.firstErr)
			}
		}
	}
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
