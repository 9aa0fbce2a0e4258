package audit

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// regroup changes the groups of one or two interfaces and nothing else: a group of the
// interface's VPC joins (up to five) or leaves (one stays), or the list is replaced.
func regroup(rnd *rand.Rand, s *netmap.Snapshot) string {
	s.ENIs = slices.Clone(s.ENIs)
	var log []string
	for range 1 + rnd.IntN(2) {
		i := rnd.IntN(len(s.ENIs))
		e := *s.ENIs[i]
		e.Groups = slices.Clone(e.Groups)
		var mine []string
		for _, g := range s.Groups {
			if g.VpcID == e.VpcID {
				mine = append(mine, g.ID)
			}
		}
		g := mine[rnd.IntN(len(mine))]
		switch x := rnd.IntN(3); {
		case x == 0 && len(e.Groups) < 5 && !slices.Contains(e.Groups, g):
			e.Groups = append(e.Groups, g)
			log = append(log, e.ID+" joins "+g)
		case x == 1 && len(e.Groups) > 1:
			j := rnd.IntN(len(e.Groups))
			log = append(log, e.ID+" leaves "+e.Groups[j])
			e.Groups = slices.Delete(e.Groups, j, j+1)
		default:
			e.Groups = []string{g}
			log = append(log, e.ID+" has only "+g)
		}
		s.ENIs[i] = &e
	}
	return fmt.Sprint(log)
}

// TestRegroupMatchesFull: after each change of random sequences where interfaces mostly
// change their groups (the membership changes the continuous audit takes incrementally,
// regroup.go), with rules authorized on the way (group references, the internet) and time
// passing, the incremental audit's report is the full audit's and its delta is what opens
// and closes between the full ones; and a membership change alone is never audited whole.
func TestRegroupMatchesFull(t *testing.T) {
	cfg := DefaultConfig()
	for seed := range uint64(8) {
		rnd := rand.New(rand.NewPCG(seed, 11))
		s := genNet(seed, 2, 30, 4, 40)
		in := knownInput(s)
		x, _, err := NewIncremental(in, cfg)
		if err != nil {
			t.Fatal(err)
		}
		prev, _ := Run(in, cfg)
		var log []string
		for step := range 80 {
			membership := false
			switch r := rnd.IntN(100); {
			case r < 75:
				log = append(log, regroup(rnd, &s))
				membership = true
			case r < 90:
				s.Groups = slices.Clone(s.Groups)
				i := rnd.IntN(len(s.Groups))
				g := *s.Groups[i]
				rule := genRule(rnd, fmt.Sprintf("sgr-step%d", step), i, len(s.Groups))
				if rnd.IntN(2) == 0 {
					rule.Peer = model.Peer{GroupID: s.Groups[rnd.IntN(len(s.Groups))].ID}
				} else if rnd.IntN(3) == 0 {
					rule.Peer = model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}
				}
				g.Ingress = append(slices.Clone(g.Ingress), rule)
				s.Groups[i] = &g
				log = append(log, "authorize "+g.ID+" "+ruleText(&rule))
			case r < 95:
				s.ENIs = slices.Clone(s.ENIs)
				i := rnd.IntN(len(s.ENIs))
				e := *s.ENIs[i]
				e.PublicIP = netip.AddrFrom4([4]byte{198, 18, 201, byte(step)})
				s.ENIs[i] = &e
				log = append(log, "public address on "+e.ID)
			default:
				in.Now = in.Now.Add(time.Duration(rnd.IntN(90)) * time.Minute)
				log = append(log, "time passes")
			}
			in.Snapshot = s
			delta, err := x.Update(in)
			if err != nil {
				t.Fatal(err)
			}
			if membership && delta.Full {
				t.Fatalf("seed %d, step %d, after %q: a membership change was audited whole", seed, step, log)
			}
			prev = matchesFull(t, x, in, cfg, prev, delta, fmt.Sprintf("seed %d, step %d, after %q", seed, step, log))
		}
	}
}
