package audit

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash/maphash"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go4.org/netipx"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
)

// The SGH family: the hygiene of security groups (audit-checks §2.1) — the default group,
// unused and wizard-made groups, rule counts, descriptions, tags, names, sprawl, redundant
// and stale rules.

func init() {
	register(
		Check{ID: "SGH-001", Title: "Default security group has rules", Severity: High, Whole: true, Run: sgh001},
		Check{ID: "SGH-002", Title: "Default security group has members", Severity: Medium, Run: sgh002},
		Check{ID: "SGH-003", Title: "Unused security group", Severity: Low, Needs: []string{"LaunchTemplates"}, Run: sgh003},
		Check{ID: "SGH-004", Title: "Wizard-created security group", Severity: Low, Run: sgh004},
		Check{ID: "SGH-005", Title: "Too many rules", Severity: Low, Run: sgh005},
		Check{ID: "SGH-006", Title: "Missing descriptions", Severity: Low, Whole: true, Run: sgh006},
		Check{ID: "SGH-007", Title: "Required tags missing", Severity: Low, Run: sgh007},
		Check{ID: "SGH-008", Title: "Naming convention", Severity: Low, Run: sgh008},
		Check{ID: "SGH-009", Title: "Security-group sprawl per VPC", Severity: Low, Run: sgh009},
		Check{ID: "SGH-010", Title: "One security group per instance", Severity: Info, Run: sgh010},
		Check{ID: "SGH-011", Title: "One security group for everything", Severity: Low, Run: sgh011},
		Check{ID: "SGH-012", Title: "Redundant rules", Severity: Info, Run: sgh012},
		Check{ID: "SGH-013", Title: "Stale group references", Severity: Low, Run: sgh013},
	)
}

// ids lists the IDs of rules.
func ids(rs []model.Rule) []string {
	out := make([]string, len(rs))
	for i := range rs {
		out[i] = rs[i].ID
	}
	return out
}

// sgh001: the default group holds a rule (CIS: it should restrict all traffic). The fix
// empties it, both directions.
func sgh001(a *Audit) []Finding {
	var out []Finding
	for _, g := range a.In.Snapshot.Groups {
		if !g.Default || len(g.Ingress)+len(g.Egress) == 0 {
			continue
		}
		f := a.groupFinding("SGH-001", g, append(ids(g.Ingress), ids(g.Egress)...)...)
		f.Why = fmt.Sprintf("Group %s is the default group of %s and has %d ingress and %d egress rules.", g.ID, g.VpcID, len(g.Ingress), len(g.Egress))
		for _, egress := range []bool{false, true} {
			if rs := g.Rules(egress); len(rs) > 0 {
				f.Fix = append(f.Fix, revoke(g.ID, egress, ids(rs)...))
			}
		}
		f.Fix = append(f.Fix, "# give the workloads purpose-built groups")
		out = append(out, f)
	}
	return out
}

// sgh002: interfaces carry the default group. The fix takes it off them: an interface with
// other groups keeps those; one with only the default gets a new group made for the purpose
// (empty but for AWS's egress rule, to be given the rules its workload needs).
func sgh002(a *Audit) []Finding {
	var out []Finding
	for _, g := range a.In.Snapshot.Groups {
		members := a.Members(g.ID)
		if !g.Default || len(members) == 0 {
			continue
		}
		f := a.groupFinding("SGH-002", g)
		var names []string
		made := false
		for _, n := range members {
			names = append(names, n.ID)
			rest := slices.DeleteFunc(slices.Clone(n.Groups), func(id string) bool { return id == g.ID })
			if len(rest) == 0 {
				if !made {
					f.Fix = append(f.Fix, createGroup("SG", "replaces-default-"+g.VpcID, "Replaces the default group of "+g.VpcID, g.VpcID))
					made = true
				}
				rest = []string{`"$SG"`}
			}
			f.Fix = append(f.Fix, modifyGroups(n.ID, rest))
		}
		f.Why = fmt.Sprintf("Group %s is the default group of %s and %d interfaces carry it: %s.", g.ID, g.VpcID, len(members), strings.Join(names, ", "))
		if made {
			f.Fix = append(f.Fix, `# give "$SG" the rules the workload needs`)
		}
		out = append(out, f)
	}
	return out
}

// createGroup is the command that makes a group and keeps its ID in the shell variable v.
func createGroup(v, name, desc, vpc string) string {
	return fmt.Sprintf(`%s=$(aws ec2 create-security-group --group-name %s --description '%s' --vpc-id %s --query GroupId --output text)`, v, name, desc, vpc)
}

// modifyGroups is the command that sets an interface's groups.
func modifyGroups(eni string, groups []string) string {
	return fmt.Sprintf("aws ec2 modify-network-interface-attribute --network-interface-id %s --groups %s", eni, strings.Join(groups, " "))
}

// used is the set of groups in use: interfaces carry them, another group's rules name
// them, or a launch template (any version) names them.
func (a *Audit) used() map[string]bool {
	in := map[string]bool{}
	for _, n := range a.In.Snapshot.ENIs {
		for _, id := range n.Groups {
			in[id] = true
		}
	}
	for _, egress := range []bool{false, true} {
		for g, r := range a.rules(egress) {
			if r.Peer.GroupID != "" && r.Peer.GroupID != g.ID {
				in[r.Peer.GroupID] = true
			}
		}
	}
	for _, v := range a.In.LaunchTemplateVersions {
		for _, id := range v.Data.GroupIDs {
			in[id] = true
		}
		for _, e := range v.Data.Interfaces {
			for _, id := range e.Groups {
				in[id] = true
			}
		}
		for _, name := range v.Data.GroupNames {
			for _, g := range a.In.Snapshot.Groups {
				if g.Name == name {
					in[g.ID] = true
				}
			}
		}
	}
	return in
}

// sgh003: a group nothing uses. Every group is judged (Prowler only looks at groups in use
// for its other checks, §3.7); this is the check that finds the dormant ones.
func sgh003(a *Audit) []Finding {
	in := a.used()
	var out []Finding
	for _, g := range a.In.Snapshot.Groups {
		if g.Default || in[g.ID] {
			continue
		}
		f := a.groupFinding("SGH-003", g)
		f.Why = fmt.Sprintf("Group %s (%s) is carried by no interface, named by no other group's rules and by no launch template.", g.ID, g.Name)
		f.Fix = []string{"aws ec2 delete-security-group --group-id " + g.ID, "# or tag it as reserved, with an owner and an expiry, and suppress the finding"}
		out = append(out, f)
	}
	return out
}

var wizard = regexp.MustCompile(`^launch-wizard-`)

// sgh004: a group the console's launch wizard made. The fix replaces it by a reviewed copy:
// the same rules (its own references pointed at the copy), the same members, the same
// references from other groups, and then deletes it.
func sgh004(a *Audit) []Finding {
	var out []Finding
	for _, g := range a.In.Snapshot.Groups {
		if !wizard.MatchString(g.Name) {
			continue
		}
		f := a.groupFinding("SGH-004", g)
		f.Why = fmt.Sprintf("Group %s is named %q: the console's launch wizard made it, with no review.", g.ID, g.Name)
		f.Fix = a.replaceGroup(g, "reviewed-"+strings.TrimPrefix(g.Name, "launch-wizard-"))
		out = append(out, f)
	}
	return out
}

// awsEgress is the rule AWS gives every new group.
var awsEgress = model.Rule{Egress: true, Protocol: model.ProtoAll, FromPort: -1, ToPort: -1, Peer: model.Peer{CIDR: policy.Internet4}}

// replaceGroup is the commands that make a copy of g named name (in $SG) and put it
// everywhere g is.
func (a *Audit) replaceGroup(g *model.Group, name string) []string {
	const sg = `"$SG"`
	fix := []string{createGroup("SG", name, "Replaces "+g.ID, g.VpcID)}
	repoint := func(r model.Rule) model.Rule {
		if r.Peer.GroupID == g.ID {
			r.Peer = model.Peer{GroupID: sg}
		}
		return r
	}
	keepEgress := false
	for _, egress := range []bool{false, true} {
		for _, r := range g.Rules(egress) {
			if r.Identity() == awsEgress.Identity() {
				keepEgress = true
				continue
			}
			fix = append(fix, authorize(sg, repoint(r), cmpOr(safeDesc(r.Description), "copied from "+r.ID)))
		}
	}
	if !keepEgress {
		fix = append(fix, fmt.Sprintf("aws ec2 revoke-security-group-egress --group-id %s --ip-permissions '%s'", sg, permission(awsEgress, "")))
	}
	for _, n := range a.Members(g.ID) {
		groups := slices.Clone(n.Groups)
		groups[slices.Index(groups, g.ID)] = sg
		fix = append(fix, modifyGroups(n.ID, groups))
	}
	for _, o := range a.allGroups {
		if o.ID == g.ID {
			continue
		}
		for _, egress := range []bool{false, true} {
			for _, r := range o.Rules(egress) {
				if r.Peer.GroupID == g.ID {
					fix = append(fix, authorize(o.ID, repoint(r), cmpOr(safeDesc(r.Description), "replaces "+r.ID)), revoke(o.ID, egress, r.ID))
				}
			}
		}
	}
	return append(fix, "aws ec2 delete-security-group --group-id "+g.ID)
}

// safeDesc is a description that can go into the CLI's shorthand syntax unquoted, "" when it
// cannot (or is empty).
func safeDesc(d string) string {
	if strings.ContainsAny(d, `,[]{}='"$\`+"`") {
		return ""
	}
	return d
}

// sgh005: more rules in one direction than the threshold, counted one per peer (each
// IpPermission's peers are separate rules; Prowler counts permission blocks, §3.8).
func sgh005(a *Audit) []Finding {
	var out []Finding
	for _, g := range a.In.Snapshot.Groups {
		for _, egress := range []bool{false, true} {
			if n := len(g.Rules(egress)); n > a.Config.MaxRules {
				f := a.groupFinding("SGH-005", g)
				f.Why = fmt.Sprintf("Group %s has %d %s rules (one per peer), more than %d.", g.ID, n, direction(egress), a.Config.MaxRules)
				f.Fix = []string{"# consolidate CIDRs into managed prefix lists and sources into group references; split the group by role"}
				out = append(out, f)
			}
		}
	}
	return out
}

// stockDescription matches the descriptions tools give a group when nobody writes one: the
// launch wizard's, Terraform's default, and the default group's on other groups.
var stockDescription = regexp.MustCompile(`^(launch-wizard-\d+ created .*|Managed by Terraform|` + regexp.QuoteMeta(model.DefaultGroupDescription) + `)$`)

// sgh006: a group without a description of its own, or rules without one. The fix describes
// each rule (with a placeholder the operator replaces); a group's description cannot be
// changed in EC2, only recreated.
func sgh006(a *Audit) []Finding {
	var out []Finding
	for _, g := range a.In.Snapshot.Groups {
		var why []string
		f := a.groupFinding("SGH-006", g)
		if !g.Default && (strings.TrimSpace(g.Description) == "" || stockDescription.MatchString(g.Description)) {
			why = append(why, fmt.Sprintf("its description %q says nothing about it", g.Description))
			f.Fix = append(f.Fix, "# EC2 cannot change a group's description: recreate the group (as SGH-004's fix does) with one that says what it is for")
		}
		// The rules are named by Rules and by the fix, not a third time in Why, and both are
		// made at their exact size: the continuous audit keeps every finding, and at 10,000
		// groups of 20 undescribed rules each list was megabytes of the server's heap.
		undescribed := func(r *model.Rule) bool { return strings.TrimSpace(r.Description) == "" }
		n := 0
		for _, egress := range []bool{false, true} {
			rs := g.Rules(egress)
			for i := range rs {
				if undescribed(&rs[i]) {
					n++
				}
			}
		}
		if n > 0 {
			f.Rules = make([]string, 0, n)
		}
		for _, egress := range []bool{false, true} {
			first := len(f.Rules)
			rs := g.Rules(egress)
			for i := range rs {
				if undescribed(&rs[i]) {
					f.Rules = append(f.Rules, rs[i].ID)
				}
			}
			switch missing := f.Rules[first:]; len(missing) {
			case 0:
				continue
			case 1:
				why = append(why, fmt.Sprintf("1 %s rule has no description", direction(egress)))
			default:
				why = append(why, fmt.Sprintf("%d %s rules have no description", len(missing), direction(egress)))
			}
			f.Fix = append(f.Fix, describeRules(egress, g.ID, f.Rules[first:]))
		}
		if why == nil {
			continue
		}
		f.Why = fmt.Sprintf("Group %s: %s.", g.ID, strings.Join(why, "; "))
		out = append(out, f)
	}
	return out
}

// describeRules is the command that describes rules of group, the ones of one direction,
// each with the placeholder for its description.
func describeRules(egress bool, group string, rules []string) string {
	const before, after = " 'SecurityGroupRuleId=", ",Description=<why: ticket and owner>'"
	head := "aws ec2 update-security-group-rule-descriptions-" + direction(egress) + " --group-id " + group + " --security-group-rule-descriptions"
	n := len(head) + len(rules)*(len(before)+len(after))
	for _, id := range rules {
		n += len(id)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(head)
	for _, id := range rules {
		b.WriteString(before)
		b.WriteString(id)
		b.WriteString(after)
	}
	return b.String()
}

// sgh007: a group lacks a required tag key; with none configured, it lacks any tag that is
// not AWS's own.
func sgh007(a *Audit) []Finding {
	var out []Finding
	for _, g := range a.In.Snapshot.Groups {
		var missing []string
		for _, k := range a.Config.RequiredTags {
			if _, ok := g.Tags[k]; !ok {
				missing = append(missing, k)
			}
		}
		if len(a.Config.RequiredTags) == 0 && g.Tags.UserCount() == 0 {
			missing = []string{"owner"}
		}
		if missing == nil {
			continue
		}
		f := a.groupFinding("SGH-007", g)
		if len(a.Config.RequiredTags) == 0 {
			f.Why = fmt.Sprintf("Group %s has no tags of its own (no owner, environment or application).", g.ID)
		} else {
			f.Why = fmt.Sprintf("Group %s lacks the required tags %s.", g.ID, strings.Join(missing, ", "))
		}
		f.Fix = []string{createTags(g.ID, missing)}
		out = append(out, f)
	}
	return out
}

// createTags is the command that gives a resource the tag keys, each with a placeholder value
// in single quotes (the value the operator puts there may hold spaces).
func createTags(id string, keys []string) string {
	var tags []string
	for _, k := range keys {
		tags = append(tags, fmt.Sprintf("'Key=%s,Value=<%s>'", k, k))
	}
	return fmt.Sprintf("aws ec2 create-tags --resources %s --tags %s", id, strings.Join(tags, " "))
}

// sgh008: a name outside the configured convention. The default group's name is EC2's.
func sgh008(a *Audit) []Finding {
	if a.Config.NameRegex == nil || a.Config.NameRegex.Regexp == nil {
		return nil
	}
	var out []Finding
	for _, g := range a.In.Snapshot.Groups {
		if g.Default || a.Config.NameRegex.MatchString(g.Name) {
			continue
		}
		f := a.groupFinding("SGH-008", g)
		f.Why = fmt.Sprintf("Group %s is named %q, which does not match %s.", g.ID, g.Name, a.Config.NameRegex)
		f.Fix = []string{"# EC2 names are immutable: recreate the group under a conforming name (as SGH-004's fix does) and move its members"}
		out = append(out, f)
	}
	return out
}

// byVPC groups the snapshot's groups by VPC, in VPC order.
func (a *Audit) byVPC() (vpcs []string, groups map[string][]*model.Group) {
	groups = map[string][]*model.Group{}
	for _, g := range a.In.Snapshot.Groups {
		if groups[g.VpcID] == nil {
			vpcs = append(vpcs, g.VpcID)
		}
		groups[g.VpcID] = append(groups[g.VpcID], g)
	}
	slices.Sort(vpcs)
	return vpcs, groups
}

// sgh009: too many groups in one VPC: Low above SprawlWarn, one step higher above SprawlHigh.
func sgh009(a *Audit) []Finding {
	vpcs, groups := a.byVPC()
	var out []Finding
	for _, v := range vpcs {
		n := len(groups[v])
		if n <= a.Config.SprawlWarn {
			continue
		}
		f := a.finding("SGH-009", "AWS::EC2::VPC", v)
		f.VpcID = v
		f.Why = fmt.Sprintf("VPC %s has %d security groups, more than %d.", v, n, a.Config.SprawlWarn)
		if n > a.Config.SprawlHigh {
			f.Severity = Medium
			f.Why = fmt.Sprintf("VPC %s has %d security groups, more than %d.", v, n, a.Config.SprawlHigh)
		}
		f.Fix = []string{"# consolidate groups per role (SGH-010 lists identical ones)"}
		out = append(out, f)
	}
	return out
}

// Thresholds of SGH-010 and SGH-011 (ours: the catalogue names the measures, not the numbers).
const (
	onePerInstanceShare = 0.8 // share of a VPC's attached groups carried by exactly one interface
	onePerInstanceMin   = 5   // attached groups in the VPC before the share means anything
	everythingShare     = 0.5 // share of a VPC's interfaces one group is on
	everythingSubnets   = 3   // subnets one group's interfaces span
	everythingMin       = 4   // interfaces in the VPC before either means anything
)

// ruleSetKey is the SHA-256 of ruleSetKey(g) (equal for equal rule sets, and only for
// them), remembered for the audit and, in a continuous audit, for the next ones while g is
// the same object (groups are copy on write). The digest, not the key, is remembered: at 20
// rules a key is some 700 bytes, for every group SGH-010 compares.
func (a *Audit) ruleSetKey(g *model.Group) [sha256.Size]byte {
	if a.setKeys == nil {
		return sha256.Sum256([]byte(ruleSetKey(g)))
	}
	k, ok := a.setKeys[g]
	if !ok {
		k = sha256.Sum256([]byte(ruleSetKey(g)))
		a.setKeys[g] = k
	}
	return k
}

// ruleSetKey is a group's rules as a comparable set: identities sorted, references to the
// group itself written "self" so that two self-contained copies compare equal.
func ruleSetKey(g *model.Group) string {
	// Each rule's identity is one line (ruleSetLine), written into one buffer: a full audit
	// builds every group's key, and a string per field and per line was most of SGH-010's
	// cost. The lines are sorted, then joined with newlines.
	n := len(g.Ingress) + len(g.Egress)
	buf := make([]byte, 0, 40*n) // "false tcp 3306 3306 10.1.2.0/24" and a margin
	lines := make([][2]int, 0, n)
	for _, egress := range []bool{false, true} {
		rs := g.Rules(egress)
		for i := range rs {
			start := len(buf)
			buf = ruleSetLine(buf, g, &rs[i])
			lines = append(lines, [2]int{start, len(buf)})
		}
	}
	slices.SortFunc(lines, func(x, y [2]int) int { return bytes.Compare(buf[x[0]:x[1]], buf[y[0]:y[1]]) })
	var out strings.Builder
	out.Grow(len(buf) + len(lines))
	for i, l := range lines {
		if i > 0 {
			out.WriteByte('\n')
		}
		out.Write(buf[l[0]:l[1]])
	}
	return out.String()
}

// ruleSetLine appends rule r of g as a line of g's ruleSetKey: its identity, with a
// separator none of its fields holds, a reference to g itself written "self".
func ruleSetLine(buf []byte, g *model.Group, r *model.Rule) []byte {
	buf = strconv.AppendBool(buf, r.Egress)
	buf = append(buf, ' ')
	buf = append(buf, r.Protocol...)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, int64(r.FromPort), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, int64(r.ToPort), 10)
	buf = append(buf, ' ')
	switch {
	case r.Peer.GroupID == g.ID:
		buf = append(buf, "self"...)
	case r.Peer.CIDR.IsValid():
		buf = r.Peer.CIDR.AppendTo(buf)
	default:
		buf = append(buf, r.Peer.Key()...)
	}
	return buf
}

// lineSeed seeds ruleSetHash.
var lineSeed = maphash.MakeSeed()

// ruleSetHash is a hash of g's ruleSetKey that does not build it: the sum of its lines'
// hashes, which does not depend on their order. Equal keys have equal hashes, so a group
// whose hash no other group of its VPC has cannot have the same rules as one (SGH-010 builds
// the keys of the others only).
func ruleSetHash(g *model.Group) uint64 {
	var line [96]byte
	sum := uint64(len(g.Ingress) + len(g.Egress))
	for _, egress := range []bool{false, true} {
		rs := g.Rules(egress)
		for i := range rs {
			sum += maphash.Bytes(lineSeed, ruleSetLine(line[:0], g, &rs[i]))
		}
	}
	return sum
}

// sgh010: groups with identical rules (each later copy is a finding; the fix moves its members
// to the first and deletes it), and VPCs where most groups serve one interface each.
func sgh010(a *Audit) []Finding {
	vpcs, groups := a.byVPC()
	var out []Finding
	for _, v := range vpcs {
		// Most groups have rules no other group of the VPC has: the hash of their rule set
		// (ruleSetHash) says so, and only the groups whose hash is shared get their key built.
		hashes := make([]uint64, len(groups[v]))
		seen := make(map[uint64]int, len(groups[v]))
		for i, g := range groups[v] {
			if g.Default || len(g.Ingress)+len(g.Egress) == 0 {
				continue
			}
			hashes[i] = ruleSetHash(g)
			seen[hashes[i]]++
		}
		first := map[[sha256.Size]byte]*model.Group{}
		single, attached := 0, 0
		for i, g := range groups[v] {
			switch len(a.Members(g.ID)) {
			case 0:
			case 1:
				single++
				attached++
			default:
				attached++
			}
			if g.Default || len(g.Ingress)+len(g.Egress) == 0 || seen[hashes[i]] < 2 {
				continue
			}
			k := a.ruleSetKey(g)
			orig := first[k]
			if orig == nil {
				first[k] = g
				continue
			}
			f := a.groupFinding("SGH-010", g)
			f.Why = fmt.Sprintf("Group %s has the same rules as %s.", g.ID, orig.ID)
			for _, n := range a.Members(g.ID) {
				gs := slices.Clone(n.Groups)
				gs[slices.Index(gs, g.ID)] = orig.ID
				f.Fix = append(f.Fix, modifyGroups(n.ID, slices.Compact(gs)))
			}
			if a.referenced(g.ID) {
				f.Fix = append(f.Fix, "# repoint the rules of other groups that name "+g.ID+" to "+orig.ID+", then delete it")
			} else {
				f.Fix = append(f.Fix, "aws ec2 delete-security-group --group-id "+g.ID)
			}
			out = append(out, f)
		}
		if attached >= onePerInstanceMin && float64(single) > onePerInstanceShare*float64(attached) {
			f := a.finding("SGH-010", "AWS::EC2::VPC", v)
			f.VpcID = v
			f.Why = fmt.Sprintf("VPC %s: %d of its %d attached groups are carried by exactly one interface.", v, single, attached)
			f.Fix = []string{"# group interfaces by function: one group per role, shared by the role's instances"}
			out = append(out, f)
		}
	}
	return out
}

// referenced reports whether another group's rules name group id.
// The set of such groups is made once per audit, with one pass over the rules: SGH-010 asks
// about every group whose rules another has, which on a VPC of new groups (all with the
// default egress rule alone) is most of them, and a pass each made the check quadratic.
func (a *Audit) referenced(id string) bool {
	if a.referencedIDs == nil {
		a.referencedIDs = map[string]bool{}
		for _, egress := range []bool{false, true} {
			for g, r := range a.rules(egress) {
				if r.Peer.GroupID != "" && r.Peer.GroupID != g.ID {
					a.referencedIDs[r.Peer.GroupID] = true
				}
			}
		}
	}
	return a.referencedIDs[id]
}

// sgh011: one group on most of a VPC's interfaces, or across many subnets.
func sgh011(a *Audit) []Finding {
	count := a.vpcENIs
	if count == nil {
		count = map[string]int{}
		for _, n := range a.In.Snapshot.ENIs {
			count[n.VpcID]++
		}
		a.vpcENIs = count
	}
	var out []Finding
	for _, g := range a.In.Snapshot.Groups {
		members := a.Members(g.ID)
		total := count[g.VpcID]
		if g.Default || total < everythingMin {
			continue
		}
		var subnets []string
		for _, n := range members {
			subnets = union(subnets, n.SubnetID)
		}
		if len(subnets) < everythingSubnets && float64(len(members)) <= everythingShare*float64(total) {
			continue
		}
		f := a.groupFinding("SGH-011", g)
		f.Why = fmt.Sprintf("Group %s is on %d of the %d interfaces of %s, in %d subnets.", g.ID, len(members), total, g.VpcID, len(subnets))
		f.Fix = []string{"# split the group by role, so that a rule change does not open every workload"}
		out = append(out, f)
	}
	return out
}

// sgh012: a rule whose protocol, ports and peer another rule already covers: a rule of the
// same group and direction, or rules of other groups on every interface that carries the
// group (np-guard checks within one group only). Peers compare by address for CIDRs and
// prefix lists, by ID for groups (a group's members change, a reference's meaning does not).
// Of two equal rules only one is redundant — the later in a group, the one of the group with
// the higher ID across groups — so that revoking every finding's rule keeps the access.
func sgh012(a *Audit) []Finding {
	// The redundant rules are found first, then their findings made: a large account has
	// thousands, and a list of findings grown one at a time is copied at every doubling.
	type redundant struct {
		g      *model.Group
		egress bool
		i, by  int // by: the rule of the group that covers rule i; -1 for other groups'
	}
	var found []redundant
	for _, g := range a.In.Snapshot.Groups {
		for _, egress := range []bool{false, true} {
			rs := g.Rules(egress)
			// Each rule's opening is read once, and a rule is compared only with the rules
			// whose opening may hold its own (coverIndex), in rule order.
			x := a.coverIndexOf(g, egress)
			var others [][]neighbour // per interface that carries g, its other groups
			for i := range rs {
				r := &rs[i]
				if j := x.first(x.ops[i], func(j int) bool {
					return i != j && a.coversAs(&rs[j], x.ops[j], r, x.ops[i]) && !(j > i && a.coversAs(r, x.ops[i], &rs[j], x.ops[j]))
				}); j >= 0 {
					found = append(found, redundant{g, egress, i, j})
					continue
				}
				if others == nil {
					others = a.othersOn(g, egress)
				}
				if a.coveredElsewhere(g, others, r, x.ops[i]) {
					found = append(found, redundant{g, egress, i, -1})
				}
			}
		}
	}
	if len(found) == 0 {
		return nil
	}
	out := make([]Finding, len(found))
	for k, d := range found {
		g, rs := d.g, d.g.Rules(d.egress)
		r := &rs[d.i]
		by := "rules of other groups on every interface that carries " + g.ID
		if d.by >= 0 {
			by = "rule " + ruleText(&rs[d.by])
		}
		f := a.groupFinding("SGH-012", g, r.ID)
		f.Why = "Group " + g.ID + ": rule " + ruleText(r) + " is redundant: " + by + " already allow all of it."
		f.Fix = []string{revoke(g.ID, d.egress, r.ID)}
		out[k] = f
	}
	return out
}

// neighbour is another group on an interface that carries the group SGH-012 judges, with
// the coverIndex of the direction judged.
type neighbour struct {
	h *model.Group
	x *coverIndex
}

// othersOn lists, for each interface that carries g, the other groups it carries that the
// audit holds, with their rules of one direction; an empty list (not nil) when no interface
// carries g.
func (a *Audit) othersOn(g *model.Group, egress bool) [][]neighbour {
	members := a.Members(g.ID)
	out := make([][]neighbour, len(members))
	for k, n := range members {
		out[k] = make([]neighbour, 0, len(n.Groups)-1)
		for _, hid := range n.Groups {
			if h := a.Group(hid); h != nil && h.ID != g.ID {
				out[k] = append(out[k], neighbour{h, a.coverIndexOf(h, egress)})
			}
		}
	}
	return out
}

// coveredElsewhere reports whether, on every interface that carries g (there is at least
// one), another of its groups has a rule covering r — an equal one only when that group's
// ID is lower, so that one of two equal rules stays. others are othersOn(g, r.Egress); or is
// r's opening.
func (a *Audit) coveredElsewhere(g *model.Group, others [][]neighbour, r *model.Rule, or policy.Opening) bool {
	if len(others) == 0 {
		return false
	}
	for _, hs := range others {
		found := false
		for _, n := range hs {
			qs, x := n.h.Rules(r.Egress), n.x
			if found = x.first(or, func(i int) bool {
				q, oq := &qs[i], x.ops[i]
				return a.coversAs(q, oq, r, or) && (n.h.ID < g.ID || !a.coversAs(r, or, q, oq))
			}) >= 0; found {
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// openingsOf are the openings of one direction of g's rules, read once per audit: SGH-012
// compares every rule of a group with every rule of the groups it shares an interface with.
func (a *Audit) openingsOf(g *model.Group, egress bool) []policy.Opening {
	m := a.memoOf(g)
	ops := m.ops[boolIndex(egress)]
	if ops == nil {
		ops = openings(g.Rules(egress))
		m.ops[boolIndex(egress)] = ops
	}
	return ops
}

// coversAs reports whether rule q allows everything rule r does; oq and or are their
// openings (policy.OpeningOf), which the caller reads once per rule.
func (a *Audit) coversAs(q *model.Rule, oq policy.Opening, r *model.Rule, or policy.Opening) bool {
	if !or.Within(oq) {
		return false
	}
	if rc, qc := r.Peer.CIDR, q.Peer.CIDR; rc.IsValid() && qc.IsValid() {
		// Two prefixes: containment is arithmetic, no set to build (SGH-012 asks this for
		// every pair of rules of every group).
		rc, qc = rc.Masked(), qc.Masked()
		return rc.Addr().Is4() == qc.Addr().Is4() && qc.Bits() <= rc.Bits() && qc.Contains(rc.Addr())
	}
	if samePeer(r.Peer, q.Peer) {
		return true
	}
	if r.Peer.GroupID != "" || q.Peer.GroupID != "" {
		return false
	}
	// What is left are prefix lists on one side or both: their sets' prefixes are read once
	// per audit (prefixesOf), and a CIDR is compared as a prefix, never as a set.
	if qc := q.Peer.CIDR; qc.IsValid() {
		rs := a.prefixesOf(a.Policy.PeerSet(r))
		return len(rs) > 0 && !slices.ContainsFunc(rs, func(p netip.Prefix) bool { return !within(p, qc.Masked()) })
	}
	qs := a.Policy.PeerSet(q)
	if qs == nil {
		return false
	}
	if rc := r.Peer.CIDR; rc.IsValid() { // the set of one prefix is that prefix: no set to walk
		return qs.ContainsPrefix(rc.Masked())
	}
	rs := a.prefixesOf(a.Policy.PeerSet(r))
	return len(rs) > 0 && !slices.ContainsFunc(rs, func(p netip.Prefix) bool { return !qs.ContainsPrefix(p) })
}

// prefixesOf is s.Prefixes(), read once per audit (nil for a nil set).
func (a *Audit) prefixesOf(s *netipx.IPSet) []netip.Prefix {
	if s == nil {
		return nil
	}
	return remembered(&a.setPrefixes, s, s.Prefixes)
}

// samePeer is r.Key() == q.Key() for peers that are not both CIDRs, without building the keys.
func samePeer(r, q model.Peer) bool {
	switch rc, qc := r.CIDR.IsValid(), q.CIDR.IsValid(); {
	case rc && qc:
		return r.CIDR == q.CIDR // a prefix's text is unique to it
	case rc || qc:
		// A CIDR's text holds a "/", which no group or prefix list ID does: only compare the
		// keys (building the CIDR's text) for an ID that might be one.
		id := q.Key()
		if qc {
			id = r.Key()
		}
		if strings.IndexByte(id, '/') >= 0 {
			return r.Key() == q.Key()
		}
		return false
	}
	return cmpOr(r.PrefixListID, r.GroupID) == cmpOr(q.PrefixListID, q.GroupID)
}

// sgh013: a rule naming a group that no longer exists (EC2's DescribeStaleSecurityGroups).
// A reference to another account's group cannot be judged from one account and is left
// alone; so is a peered VPC's group (the snapshot holds no peering connections yet).
func sgh013(a *Audit) []Finding {
	var out []Finding
	for _, egress := range []bool{false, true} {
		for g, r := range a.rules(egress) {
			if r.Peer.GroupID == "" || a.Group(r.Peer.GroupID) != nil || r.Peer.UserID != "" && r.Peer.UserID != g.OwnerID {
				continue
			}
			f := a.groupFinding("SGH-013", g, r.ID)
			f.Why = fmt.Sprintf("Group %s: rule %s names group %s, which does not exist.", g.ID, ruleText(r), r.Peer.GroupID)
			f.Fix = []string{revoke(g.ID, egress, r.ID)}
			out = append(out, f)
		}
	}
	return out
}
