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

// The network-ACL checks (audit-checks §2.1 NACL-001…008). Every question about what an ACL
// lets through is answered by policy.ACL.Decide — the walk the policy engine and the data
// plane use: entries in rule-number order, first match wins, the implicit deny of the
// address's family last. "The internet" is not one address: the checks ask one address of
// every part of the family that the entries' CIDRs cut it into (representatives), restricted
// to globally routable addresses, so a deny on 0.0.0.0/1 plus 128.0.0.0/1 is seen (Prowler
// only walks entries whose CIDR is literally /0, audit-checks §3.6), and an allow for
// 10.0.0.0/8 is not the internet.

func init() {
	register(
		Check{ID: "NACL-001", Title: "Network ACL allows internet to admin ports", Severity: Medium, Run: naclAdminPorts},
		Check{ID: "NACL-002", Title: "Network ACL allows all inbound from the internet", Severity: Medium, Run: naclAllInbound},
		Check{ID: "NACL-003", Title: "Allow-all entry in a custom network ACL", Severity: Low, Run: naclAllowAll},
		Check{ID: "NACL-004", Title: "Unused network ACL", Severity: Low, Run: naclUnused},
		Check{ID: "NACL-005", Title: "Subnet on the default network ACL", Severity: Info, Run: naclDefaultSubnet},
		Check{ID: "NACL-006", Title: "Return traffic blocked by a stateless network ACL", Severity: Low, Run: naclReturnBlocked},
		Check{ID: "NACL-007", Title: "Shadowed network ACL entry", Severity: Info, Run: naclShadowed},
		Check{ID: "NACL-008", Title: "Network ACL lacks required tags", Severity: Low, Run: naclTags},
	)
}

// ephemeralFrom is the low end of the reply ports the fixes open (AWS's NACL advice: 1024–
// 65535 covers Linux's 32768–60999, Windows' 49152–65535 and ELB's 1024–65535).
const ephemeralFrom = 1024

// replyPort is the client port NACL-006 judges a reply with: in every OS's ephemeral range.
const replyPort = 49152

// entryRef names an entry as findings do: "acl-…/ingress/100"; the implicit denies are "*".
func entryRef(acl string, e *model.NACLEntry) string {
	dir := "ingress"
	if e.Egress {
		dir = "egress"
	}
	n := strconv.Itoa(e.RuleNumber)
	if e.RuleNumber > model.MaxNACLRule {
		n = "*"
	}
	return acl + "/" + dir + "/" + n
}

// directionFlag is the CLI's flag for a direction.
func directionFlag(egress bool) string {
	if egress {
		return "--egress"
	}
	return "--ingress"
}

func dirName(egress bool) string {
	if egress {
		return "outbound"
	}
	return "inbound"
}

// aclEntryCmd phrases create-network-acl-entry. ports is nil for no port range (protocol -1).
func aclEntryCmd(acl string, egress bool, number int, proto int, ports *[2]int, cidr netip.Prefix, allow bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "aws ec2 create-network-acl-entry --network-acl-id %s %s --rule-number %d --protocol %d", acl, directionFlag(egress), number, proto)
	if ports != nil {
		fmt.Fprintf(&b, " --port-range From=%d,To=%d", ports[0], ports[1])
	}
	if cidr.Addr().Is6() {
		fmt.Fprintf(&b, " --ipv6-cidr-block %s", cidr)
	} else {
		fmt.Fprintf(&b, " --cidr-block %s", cidr)
	}
	action := "deny"
	if allow {
		action = "allow"
	}
	return b.String() + " --rule-action " + action
}

func deleteEntryCmd(acl string, e *model.NACLEntry) string {
	return fmt.Sprintf("aws ec2 delete-network-acl-entry --network-acl-id %s %s --rule-number %d", acl, directionFlag(e.Egress), e.RuleNumber)
}

// freeBelow is up to k rule numbers not used in a direction, highest first, below n (at most
// model.MaxNACLRule): new entries placed there come before the entry numbered n and after
// every entry numbered lower. Numbers an earlier fix of this audit took are not free, so that
// every fix of a report can be run.
func (a *Audit) freeBelow(acl *model.NACL, egress bool, n, k int) []int {
	var out []int
	for x := min(n-1, model.MaxNACLRule); x >= 1 && len(out) < k; x-- {
		if a.free(acl, egress, x, false) {
			out = append(out, x)
		}
	}
	return a.take(acl, egress, out, k)
}

// freeFrom is k rule numbers from n upward that are free, or about to be freed (reuse).
func (a *Audit) freeFrom(acl *model.NACL, egress bool, n, k int, reuse int) []int {
	var out []int
	for x := n; x <= model.MaxNACLRule && len(out) < k; x++ {
		if a.free(acl, egress, x, x == reuse) {
			out = append(out, x)
		}
	}
	return a.take(acl, egress, out, k)
}

func (a *Audit) free(acl *model.NACL, egress bool, x int, reuse bool) bool {
	return (reuse || acl.Find(egress, x) < 0) && !a.naclTaken[fmt.Sprint(acl.ID, egress, x)]
}

// take marks the numbers of a complete fix taken; an incomplete one takes none.
func (a *Audit) take(acl *model.NACL, egress bool, nums []int, k int) []int {
	if len(nums) < k {
		return nil
	}
	if a.naclTaken == nil {
		a.naclTaken = map[string]bool{}
	}
	for _, x := range nums {
		a.naclTaken[fmt.Sprint(acl.ID, egress, x)] = true
	}
	return nums
}

// nacls are the snapshot's ACLs with their policy views, in ID order.
func (a *Audit) nacls() []aclView {
	out := make([]aclView, 0, len(a.In.Snapshot.NACLs))
	for _, n := range a.In.Snapshot.NACLs {
		out = append(out, aclView{n, policy.NewACL(n)})
	}
	slices.SortFunc(out, func(x, y aclView) int { return strings.Compare(x.ID, y.ID) })
	return out
}

type aclView struct {
	*model.NACL
	walk *policy.ACL
}

func (v aclView) prefixes(egress bool) []netip.Prefix {
	var ps []netip.Prefix
	for _, e := range v.walk.Entries(egress) {
		ps = append(ps, e.CIDR)
	}
	return ps
}

// internetAllows walks the direction for one address of every part of the family's internet
// and returns the allowing entries that decide some part (in rule-number order, each once) and
// an address one of them admits.
func (v aclView) internetAllows(egress, v6 bool, f policy.Flow) ([]*model.NACLEntry, netip.Addr) {
	var out []*model.NACLEntry
	var sample netip.Addr
	for _, addr := range representatives(familyPrefix(v6), v.prefixes(egress), internetOf(v6)) {
		if e := v.walk.Decide(egress, f, addr); e.Allow && !slices.ContainsFunc(out, func(x *model.NACLEntry) bool { return x.RuleNumber == e.RuleNumber }) {
			out = append(out, e)
			if !sample.IsValid() {
				sample = addr
			}
		}
	}
	slices.SortFunc(out, func(x, y *model.NACLEntry) int { return x.RuleNumber - y.RuleNumber })
	return out, sample
}

func (a *Audit) aclFinding(check string, v aclView) Finding {
	f := a.finding(check, "AWS::EC2::NetworkAcl", v.ID)
	f.VpcID = v.VpcID
	return f
}

func family(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

func defaultNote(v aclView) string {
	if v.Default {
		return " (the VPC's default network ACL)"
	}
	return ""
}

// naclAdminPorts is NACL-001: per ACL and address family, the admin ports (TCP and UDP: RDP
// also runs on UDP, audit-checks §3.3) some internet address gets to. The fix denies each of
// them from the whole family just ahead of the lowest entry that lets the internet in, so
// allows for private ranges numbered lower keep working.
func naclAdminPorts(a *Audit) []Finding {
	var out []Finding
	for _, v := range a.nacls() {
		for _, v6 := range []bool{false, true} {
			var open []string
			var rules []string
			lowest := model.MaxNACLRule + 1
			type hole struct{ proto, port int }
			var holes []hole
			var sample netip.Addr
			for _, proto := range []int{model.ProtoNumTCP, model.ProtoNumUDP} {
				for _, port := range a.Config.AdminPorts {
					allows, addr := v.internetAllows(false, v6, policy.Flow{Proto: uint8(proto), DstPort: port})
					if len(allows) == 0 {
						continue
					}
					if !sample.IsValid() {
						sample = addr
					}
					holes = append(holes, hole{proto, int(port)})
					open = append(open, fmt.Sprintf("%s/%d", model.ProtocolName(proto), port))
					for _, e := range allows {
						lowest = min(lowest, e.RuleNumber)
						if r := entryRef(v.ID, e); !slices.Contains(rules, r) {
							rules = append(rules, r)
						}
					}
				}
			}
			if len(holes) == 0 {
				continue
			}
			f := a.aclFinding("NACL-001", v)
			slices.Sort(rules)
			f.Rules = rules
			f.Why = fmt.Sprintf("%s%s lets the %s internet in to %s: walking its inbound entries in rule-number order, the first that matches %s (e.g. from %s) allows it",
				v.ID, defaultNote(v), family(v6), strings.Join(open, ", "), strings.Join(rules, ", "), sample)
			nums := a.freeBelow(v.NACL, false, lowest, len(holes))
			if len(nums) < len(holes) {
				f.Why += fmt.Sprintf("; there are not %d free rule numbers below %d for the deny entries: renumber the entries first", len(holes), lowest)
			} else {
				for i, h := range holes {
					f.Fix = append(f.Fix, aclEntryCmd(v.ID, false, nums[i], h.proto, &[2]int{h.port, h.port}, familyPrefix(v6), false))
				}
			}
			out = append(out, f)
		}
	}
	return out
}

// unnamedProtocol is a protocol number no entry of the ACL names: the first entry that matches
// a flow of it is the first that matches "protocol -1", which is what NACL-002 asks about.
func unnamedProtocol(v aclView) uint8 {
	for p := 253; p > 0; p-- { // 253 and 254 are RFC 3692's experimental numbers
		if !slices.ContainsFunc(v.Entries, func(e model.NACLEntry) bool { return e.Protocol == strconv.Itoa(p) }) {
			return uint8(p)
		}
	}
	return 255
}

// untouchedDefault reports whether v is a default ACL with the entries EC2 creates it with:
// allow everything at 100 (and 101 for IPv6) both ways, nothing else.
func untouchedDefault(v aclView) bool {
	if !v.Default {
		return false
	}
	for _, e := range v.Entries {
		if e.RuleNumber > model.MaxNACLRule {
			continue // the implicit denies, which exports list
		}
		stock := e.Allow && e.Protocol == "-1" && e.CIDR.Bits() == 0 &&
			(e.RuleNumber == 100 && e.CIDR.Addr().Is4() || e.RuleNumber == 101 && e.CIDR.Addr().Is6())
		if !stock {
			return false
		}
	}
	return true
}

// allowAllEntries is NACL-002's answer for one ACL and family: the protocol -1 allows that
// decide for some internet address, with one such address.
func (v aclView) allowAllEntries(v6 bool) ([]*model.NACLEntry, netip.Addr) {
	return v.internetAllows(false, v6, policy.Flow{Proto: unnamedProtocol(v)})
}

// replaceAllowAll is the fix of an allow-all entry: delete it and allow, from the same CIDR and
// starting at its number, the authorized ports and the ephemeral reply ports — what a
// least-privilege ACL of a public subnet holds (AWS's recommended rules for a public subnet).
func (a *Audit) replaceAllowAll(v aclView, e *model.NACLEntry) []string {
	type allow struct {
		proto int
		ports [2]int
	}
	var allows []allow
	for _, p := range a.Config.AuthorizedTCP {
		allows = append(allows, allow{model.ProtoNumTCP, [2]int{int(p), int(p)}})
	}
	for _, p := range a.Config.AuthorizedUDP {
		allows = append(allows, allow{model.ProtoNumUDP, [2]int{int(p), int(p)}})
	}
	allows = append(allows, allow{model.ProtoNumTCP, [2]int{ephemeralFrom, 65535}})
	nums := a.freeFrom(v.NACL, e.Egress, e.RuleNumber, len(allows), e.RuleNumber)
	if len(nums) < len(allows) {
		return nil
	}
	cmds := []string{deleteEntryCmd(v.ID, e)}
	for i, x := range allows {
		cmds = append(cmds, aclEntryCmd(v.ID, e.Egress, nums[i], x.proto, &x.ports, e.CIDR, true))
	}
	return cmds
}

// naclAllInbound is NACL-002: the first inbound entry that matches every protocol from the
// internet allows. On a default ACL EC2 made and nobody changed it is Info: every VPC has one.
func naclAllInbound(a *Audit) []Finding {
	var out []Finding
	for _, v := range a.nacls() {
		for _, v6 := range []bool{false, true} {
			allows, sample := v.allowAllEntries(v6)
			if len(allows) == 0 {
				continue
			}
			f := a.aclFinding("NACL-002", v)
			if untouchedDefault(v) {
				f.Severity = Info
			}
			for _, e := range allows {
				f.Rules = append(f.Rules, entryRef(v.ID, e))
				f.Fix = append(f.Fix, a.replaceAllowAll(v, e)...)
			}
			f.Why = fmt.Sprintf("%s%s lets every protocol and port in from the %s internet: the first inbound entry matching all traffic from %s is %s, an allow",
				v.ID, defaultNote(v), family(v6), sample, strings.Join(f.Rules, ", "))
			out = append(out, f)
		}
	}
	return out
}

// naclAllowAll is NACL-003: in a custom ACL, an entry allowing every protocol from or to /0
// that no deny of its family comes before. An inbound one NACL-002 already reports is not
// reported twice (same entry, same fix).
func naclAllowAll(a *Audit) []Finding {
	var out []Finding
	for _, v := range a.nacls() {
		if v.Default {
			continue
		}
		for _, egress := range []bool{false, true} {
			denied := map[bool]bool{} // family (v6) → a deny came first
			for _, e := range v.walk.Entries(egress) {
				v6 := e.CIDR.Addr().Is6()
				if !e.Allow {
					denied[v6] = true
					continue
				}
				if denied[v6] || e.Protocol != "-1" || e.CIDR.Bits() != 0 {
					continue
				}
				if !egress {
					if reported, _ := v.allowAllEntries(v6); slices.ContainsFunc(reported, func(x *model.NACLEntry) bool { return x.RuleNumber == e.RuleNumber }) {
						continue
					}
				}
				f := a.aclFinding("NACL-003", v)
				f.Rules = []string{entryRef(v.ID, &e)}
				f.Why = fmt.Sprintf("%s allows all %s traffic %s %s at rule %d, ahead of any deny", v.ID, dirName(egress),
					map[bool]string{false: "from", true: "to"}[egress], e.CIDR, e.RuleNumber)
				f.Fix = a.replaceAllowAll(v, &e)
				out = append(out, f)
			}
		}
	}
	return out
}

// naclUnused is NACL-004: a custom ACL no subnet uses.
func naclUnused(a *Audit) []Finding {
	var out []Finding
	for _, v := range a.nacls() {
		if v.Default || len(v.Assocs) > 0 {
			continue
		}
		f := a.aclFinding("NACL-004", v)
		f.Why = fmt.Sprintf("%s is associated with no subnet", v.ID)
		f.Fix = []string{"aws ec2 delete-network-acl --network-acl-id " + v.ID}
		out = append(out, f)
	}
	return out
}

// naclDefaultSubnet is NACL-005: a subnet left on its VPC's default ACL. The fix moves it to a
// custom ACL of the VPC, which the operator must choose (a new ACL denies everything until it
// has entries, so the command names a placeholder rather than guess one).
func naclDefaultSubnet(a *Audit) []Finding {
	var out []Finding
	for _, v := range a.nacls() {
		if !v.Default {
			continue
		}
		var custom []string
		for _, o := range a.In.Snapshot.NACLs {
			if o.VpcID == v.VpcID && !o.Default {
				custom = append(custom, o.ID)
			}
		}
		target := "'<reviewed-acl-id>'" // quoted: unquoted, the shell reads it as a redirection
		if len(custom) == 1 {
			target = custom[0]
		}
		for _, as := range v.Assocs {
			f := a.finding("NACL-005", "AWS::EC2::Subnet", as.SubnetID)
			f.VpcID = v.VpcID
			f.Rules = []string{v.ID}
			f.Why = fmt.Sprintf("%s uses its VPC's default network ACL %s (association %s)", as.SubnetID, v.ID, as.ID)
			if len(custom) > 0 {
				f.Why += "; the VPC's custom ACLs: " + strings.Join(custom, ", ")
			}
			f.Fix = []string{fmt.Sprintf("aws ec2 replace-network-acl-association --association-id %s --network-acl-id %s", as.ID, target)}
			out = append(out, f)
		}
	}
	return out
}

// naclReturnBlocked is NACL-006: an allow for a TCP service (protocol 6 or -1) in one direction
// whose replies — TCP to an ephemeral client port of the same peer — the other direction
// denies. Each allow entry is judged on one address of every part of its CIDR that it decides
// for; one finding per entry.
func naclReturnBlocked(a *Audit) []Finding {
	var out []Finding
	for _, v := range a.nacls() {
		for _, egress := range []bool{false, true} {
			cuts := append(v.prefixes(false), v.prefixes(true)...)
			for _, e := range v.walk.Entries(egress) {
				if !e.Allow || (e.Protocol != "6" && e.Protocol != "-1") || replyEntry(&e) {
					continue
				}
				port := uint16(443)
				if e.HasPorts {
					port = uint16(max(e.FromPort, 1))
				}
				service := policy.Flow{Proto: model.ProtoNumTCP, DstPort: port}
				reply := policy.Flow{Proto: model.ProtoNumTCP, SrcPort: port, DstPort: replyPort}
				// An internet address where there is one, for the explanation; then the rest.
				reps := slices.Concat(representatives(e.CIDR, cuts, internetOf(e.CIDR.Addr().Is6())), representatives(e.CIDR, cuts, nil))
				for _, addr := range reps {
					if d := v.walk.Decide(egress, service, addr); d.RuleNumber != e.RuleNumber {
						continue // another entry decides the service here
					}
					deny := v.walk.Decide(!egress, reply, addr)
					if deny.Allow {
						continue
					}
					f := a.aclFinding("NACL-006", v)
					f.Rules = []string{entryRef(v.ID, &e), entryRef(v.ID, deny)}
					f.Why = fmt.Sprintf("%s allows %s TCP to port %d %s %s at rule %d, but its %s entries deny the replies (TCP to port %d, e.g. %s %s) at %s: network ACLs are stateless",
						v.ID, dirName(egress), port, map[bool]string{false: "from", true: "to"}[egress], e.CIDR, e.RuleNumber,
						dirName(!egress), replyPort, map[bool]string{false: "to", true: "from"}[egress], addr, entryRef(v.ID, deny))
					if n := a.freeBelow(v.NACL, !egress, deny.RuleNumber, 1); len(n) == 1 {
						f.Fix = []string{aclEntryCmd(v.ID, !egress, n[0], model.ProtoNumTCP, &[2]int{ephemeralFrom, 65535}, e.CIDR, true)}
					}
					out = append(out, f)
					break
				}
			}
		}
	}
	return out
}

// replyEntry reports whether an entry is there for replies: TCP to a range from 1024 or
// above up to 65535 (1024–65535, 32768–65535, 49152–65535), the ephemeral ports clients use.
// Its own "replies" would be the service's traffic, so NACL-006 does not judge it.
func replyEntry(e *model.NACLEntry) bool {
	return e.HasPorts && e.FromPort >= ephemeralFrom && e.ToPort == 65535
}

// naclTags is NACL-008: as SGH-007, for network ACLs.
func naclTags(a *Audit) []Finding {
	var out []Finding
	for _, v := range a.nacls() {
		missing, why := missingTags(v.Tags, a.Config.RequiredTags)
		if !missing {
			continue
		}
		f := a.aclFinding("NACL-008", v)
		f.Why = v.ID + " " + why
		keys := a.Config.RequiredTags
		if len(keys) == 0 {
			keys = []string{"owner"}
		}
		var absent []string
		for _, k := range keys {
			if _, ok := v.Tags[k]; !ok {
				absent = append(absent, k)
			}
		}
		// Quoted as SGH-007's: unquoted, the shell would read "<owner>" as a redirection.
		f.Fix = []string{createTags(v.ID, absent)}
		out = append(out, f)
	}
	return out
}

// missingTags says whether tags lack a required key (or, with none configured, any tag that is
// not the system's "aws:" ones), and which.
func missingTags(tags model.Tags, required []string) (bool, string) {
	if len(required) == 0 {
		for k := range tags {
			if !model.ReservedTagKey(k) {
				return false, ""
			}
		}
		return true, "has no tags of its own"
	}
	var miss []string
	for _, k := range required {
		if _, ok := tags[k]; !ok {
			miss = append(miss, k)
		}
	}
	if len(miss) == 0 {
		return false, ""
	}
	return true, "lacks the required tag keys " + strings.Join(miss, ", ")
}
