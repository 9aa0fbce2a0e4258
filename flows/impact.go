package flows

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/policy"
)

// Change is a proposed change to the current network: security-group rules revoked, NACL
// entries deleted or turned into denies (each written acl-…/ingress/100 or
// acl-…/egress/100, as the auditor names entries).
type Change struct {
	Revoke     []string
	DeleteNACL []string
	DenyNACL   []string
}

// apply returns s with the change made; groups and NACLs are copied on write. Naming a rule
// or an entry s does not hold is an error: an impact of nothing would read as "safe".
func (c Change) apply(s netmap.Snapshot) (netmap.Snapshot, error) {
	out := s
	out.Groups = slices.Clone(s.Groups)
	for _, id := range c.Revoke {
		found := false
		for i, g := range out.Groups {
			for _, egress := range []bool{false, true} {
				if g.FindRule(egress, id) < 0 {
					continue
				}
				g = g.Clone()
				rules := slices.DeleteFunc(g.Rules(egress), func(r model.Rule) bool { return r.ID == id })
				if egress {
					g.Egress = rules
				} else {
					g.Ingress = rules
				}
				out.Groups[i], found = g, true
			}
		}
		if !found {
			return s, fmt.Errorf("no security group rule %s", id)
		}
	}
	out.NACLs = slices.Clone(s.NACLs)
	for _, ref := range slices.Concat(c.DeleteNACL, c.DenyNACL) {
		deny := slices.Contains(c.DenyNACL, ref)
		acl, egress, n, err := parseEntryRef(ref)
		if err != nil {
			return s, err
		}
		i := slices.IndexFunc(out.NACLs, func(a *model.NACL) bool { return a.ID == acl })
		if i < 0 {
			return s, fmt.Errorf("%s: no network ACL %s", ref, acl)
		}
		a := *out.NACLs[i]
		a.Entries = slices.Clone(a.Entries)
		j := slices.IndexFunc(a.Entries, func(e model.NACLEntry) bool { return e.Egress == egress && e.RuleNumber == n })
		if j < 0 || n >= model.NACLDenyAllIPv4 {
			return s, fmt.Errorf("%s: no such entry", ref)
		}
		if deny {
			a.Entries[j].Allow = false
		} else {
			a.Entries = slices.Delete(a.Entries, j, j+1)
		}
		out.NACLs[i] = &a
	}
	return out, nil
}

// parseEntryRef reads acl-…/ingress/100.
func parseEntryRef(ref string) (acl string, egress bool, n int, err error) {
	parts := strings.Split(ref, "/")
	if len(parts) == 3 && strings.HasPrefix(parts[0], "acl-") && (parts[1] == "ingress" || parts[1] == "egress") {
		if n, err = strconv.Atoi(parts[2]); err == nil && n > 0 {
			return parts[0], parts[1] == "egress", n, nil
		}
	}
	return "", false, 0, fmt.Errorf("NACL entry %q: write it acl-ID/ingress/NUMBER or acl-ID/egress/NUMBER", ref)
}

// Refused is one flow seen in the period that the change would have refused.
type Refused struct {
	Src     string `json:"src"` // address:port
	Dst     string `json:"dst"`
	Proto   uint8  `json:"protocol"`
	Records int    `json:"records"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	First   int64  `json:"first"`
	Last    int64  `json:"last"`
	// At is where the changed policy stops it (a policy.Stage's name).
	At string `json:"at"`
}

// Impact is which opening ACCEPT flows of the period the network in force when each
// started admitted and would have refused with the change made to it: each flow is asked of
// Verdict, between the interfaces that own its addresses (or the outside), before and after
// the change, so that security groups, NACLs and routing all count as they do for real
// traffic. A flow its revision already refused is not the change's doing and is left out. A
// connection seen on both its interfaces is one flow. The change must name what the current
// network holds (it is a proposal for today); a revision that lacks a rule it revokes is
// changed in what it has.
func (d *Data) Impact(p Period, c Change) ([]Refused, error) {
	cur := d.Timeline.Current()
	if _, err := c.apply(cur.Snapshot); err != nil {
		return nil, err
	}
	// after compiles a revision with the change made, once per revision (by its From: a
	// rewound timeline builds a revision anew once it has left its cache).
	compiled := map[time.Time]*policy.Policy{}
	after := func(rev *Revision) (*policy.Policy, error) {
		if pol, ok := compiled[rev.From]; ok {
			return pol, nil
		}
		changed := rev.Snapshot
		for _, id := range c.Revoke {
			one := Change{Revoke: []string{id}}
			if s, err := one.apply(changed); err == nil {
				changed = s
			}
		}
		changed, err := Change{DeleteNACL: c.DeleteNACL, DenyNACL: c.DenyNACL}.apply(changed)
		if err != nil {
			return nil, err
		}
		pol, err := policy.Compile(changed)
		compiled[rev.From] = pol
		return pol, err
	}
	owner := map[netip.Addr]string{}
	for _, n := range cur.Snapshot.ENIs {
		for _, a := range n.Addrs() {
			owner[a] = n.ID
		}
	}
	recs := d.Select(p)
	init := Initiating(recs)
	type key struct {
		proto            uint8
		src, dst         netip.Addr
		srcPort, dstPort uint16
	}
	// The opening records decide; every ACCEPT record of a refused flow's direction then adds
	// its traffic: the later windows of the connection, and its copy on the other interface.
	seen := map[key]*Refused{}
	decided := map[key]bool{}
	var order []key
	for i := range recs {
		r := &recs[i]
		if !init[i] {
			continue
		}
		f := flowOf(r)
		k := key{r.Proto, f.Src, f.Dst, r.SrcPort, r.DstPort}
		if decided[k] {
			continue
		}
		decided[k] = true
		src, dst := policy.Endpoint{ENI: owner[f.Src]}, policy.Endpoint{ENI: owner[f.Dst]}
		rev := d.Timeline.At(time.Unix(r.Start, 0))
		if rev.Policy.Verdict(src, dst, f) != policy.Admitted {
			continue
		}
		changed, err := after(rev)
		if err != nil {
			return nil, err
		}
		if stage := changed.Verdict(src, dst, f); stage != policy.Admitted {
			seen[k] = &Refused{Src: netip.AddrPortFrom(f.Src, r.SrcPort).String(), Dst: netip.AddrPortFrom(f.Dst, r.DstPort).String(),
				Proto: r.Proto, First: r.Start, Last: r.End, At: stage.String()}
			order = append(order, k)
		}
	}
	for i := range recs {
		r := &recs[i]
		if !r.OK() || r.Action != "ACCEPT" {
			continue
		}
		if x := seen[key{r.Proto, r.PktSrc, r.PktDst, r.SrcPort, r.DstPort}]; x != nil {
			x.Records++
			x.Packets += r.Packets
			x.Bytes += r.Bytes
			x.First, x.Last = min(x.First, r.Start), max(x.Last, r.End)
		}
	}
	out := make([]Refused, 0, len(order))
	for _, k := range order {
		out = append(out, *seen[k])
	}
	slices.SortStableFunc(out, func(a, b Refused) int { return cmp.Compare(b.Bytes, a.Bytes) })
	return out, nil
}
