package audit

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
)

// naclShadowed is NACL-007: an entry that can never decide, because the entries numbered
// lower cover its whole match space (addresses × protocol × ports or ICMP type and code).
//
// The match space of an entry is cut into cells by the boundaries of the entries before it —
// CIDRs, named protocols, port ranges, ICMP types and codes — so that within a cell every
// earlier entry matches all flows or none. One flow per cell is then walked with the policy
// engine's ACL walk: the entry is shadowed exactly when no cell's flow is decided by it.
func naclShadowed(a *Audit) []Finding {
	var out []Finding
	for _, v := range a.nacls() {
		for _, egress := range []bool{false, true} {
			entries := v.walk.Entries(egress)
			for i := range entries {
				e := &entries[i]
				if e.RuleNumber > model.MaxNACLRule {
					continue // an implicit deny (exports list them): not the user's to remove
				}
				deciders, shadowed := shadowedBy(v, egress, e, entries[:i])
				if !shadowed {
					continue
				}
				f := a.aclFinding("NACL-007", v)
				f.Rules = []string{entryRef(v.ID, e)}
				var by []string
				for _, n := range deciders {
					by = append(by, strconv.Itoa(n))
				}
				f.Why = fmt.Sprintf("%s %s entry %d can never match: every flow it matches is decided first by entries %s",
					v.ID, dirName(egress), e.RuleNumber, strings.Join(by, ", "))
				f.Fix = []string{deleteEntryCmd(v.ID, e)}
				out = append(out, f)
			}
		}
	}
	return out
}

// shadowedBy reports whether earlier entries decide every flow e matches, and which of them
// (rule numbers, ascending).
func shadowedBy(v aclView, egress bool, e *model.NACLEntry, earlier []model.NACLEntry) ([]int, bool) {
	v6 := e.CIDR.Addr().Is6()
	var same []model.NACLEntry
	var cidrs []netip.Prefix
	for _, x := range earlier {
		if x.CIDR.Addr().Is6() == v6 {
			same = append(same, x)
			cidrs = append(cidrs, x.CIDR)
		}
	}
	if len(same) == 0 {
		return nil, false
	}
	var protos []int
	if e.Protocol == "-1" {
		protos = append(protos, int(unnamedProtocol(v)))
		for _, x := range same {
			if p, err := strconv.Atoi(x.Protocol); err == nil && p >= 0 && !slices.Contains(protos, p) {
				protos = append(protos, p)
			}
		}
	} else {
		p, _ := strconv.Atoi(e.Protocol)
		protos = []int{p}
	}
	var deciders []int
	for _, addr := range representatives(e.CIDR, cidrs, nil) {
		for _, p := range protos {
			for _, f := range cellFlows(e, same, p, v6) {
				d := v.walk.Decide(egress, f, addr)
				if d.RuleNumber == e.RuleNumber {
					return nil, false
				}
				if !slices.Contains(deciders, d.RuleNumber) {
					deciders = append(deciders, d.RuleNumber)
				}
			}
		}
	}
	slices.Sort(deciders)
	return deciders, true
}

// cellFlows is one flow of protocol p per cell of e's ports or ICMP types and codes, as the
// earlier entries of protocol p cut them.
func cellFlows(e *model.NACLEntry, earlier []model.NACLEntry, p int, v6 bool) []policy.Flow {
	own := e.Protocol == strconv.Itoa(p)
	switch {
	case p == model.ProtoNumTCP || p == model.ProtoNumUDP:
		lo, hi := 0, 65535
		if own && e.HasPorts {
			lo, hi = int(e.FromPort), int(e.ToPort)
		}
		var out []policy.Flow
		for _, port := range cuts(lo, hi, earlier, p, func(x *model.NACLEntry) (bool, int, int) { return x.HasPorts, int(x.FromPort), int(x.ToPort) }) {
			out = append(out, policy.Flow{Proto: uint8(p), DstPort: uint16(port)})
		}
		return out
	case p == model.ProtoNumICMP || p == model.ProtoNumICMPv6 && v6:
		tlo, thi, clo, chi := 0, 255, 0, 255
		if own && e.HasICMP && e.ICMPType != -1 {
			tlo, thi = int(e.ICMPType), int(e.ICMPType)
		}
		if own && e.HasICMP && e.ICMPCode != -1 {
			clo, chi = int(e.ICMPCode), int(e.ICMPCode)
		}
		types := cuts(tlo, thi, earlier, p, func(x *model.NACLEntry) (bool, int, int) {
			return x.HasICMP && x.ICMPType != -1, int(x.ICMPType), int(x.ICMPType)
		})
		codes := cuts(clo, chi, earlier, p, func(x *model.NACLEntry) (bool, int, int) {
			return x.HasICMP && x.ICMPCode != -1, int(x.ICMPCode), int(x.ICMPCode)
		})
		var out []policy.Flow
		for _, t := range types {
			for _, c := range codes {
				out = append(out, policy.Flow{Proto: uint8(p), ICMPType: uint8(t), ICMPCode: uint8(c)})
			}
		}
		return out
	}
	return []policy.Flow{{Proto: uint8(p)}}
}

// cuts is lo and every boundary of the earlier entries' ranges (of protocol p) inside lo..hi:
// the first value of each part.
func cuts(lo, hi int, earlier []model.NACLEntry, p int, rng func(*model.NACLEntry) (bool, int, int)) []int {
	out := []int{lo}
	for i := range earlier {
		x := &earlier[i]
		has, from, to := rng(x)
		if x.Protocol != strconv.Itoa(p) || !has {
			continue
		}
		for _, c := range []int{from, to + 1} {
			if c > lo && c <= hi && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	slices.Sort(out)
	return out
}
