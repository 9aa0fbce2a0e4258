package audit

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/policy"
)

// Incremental is the continuous audit of one account and region: it keeps the last input, its
// compiled policy and every check's findings, and re-audits a new input by re-running only
// what the difference can affect. Its findings are always those Run would give for the same
// input and configuration (TestIncrementalMatchesFull checks it after random changes).
//
// The dependency rules, from what each check reads:
//
//   - Interfaces, VPCs, subnets, network ACLs, route tables, gateways, addresses, prefix lists
//     and stopped instances ("the topology") are what the compiled policy is made of: when
//     any of them changes, everything is audited again, the policy compiled again. They
//     change when instances start and stop and networks are built, far less often than rules.
//     The exception is interfaces that change only their groups (regroup.go), as often as
//     rules: the policy is compiled again, but only the exposures of the interfaces the
//     change can reach are judged again.
//   - When only groups change (rules authorized, revoked or edited, groups created, deleted,
//     renamed or tagged — an API user's day), the topology's policy still answers every
//     question the group checks ask of it (peer sets of prefix lists and of groups' members,
//     public addresses), and:
//   - the group checks (groupChecks: SGA-*, SGE-*, SGH-001/002/004-008/012/013) judge each
//     group on its own rules, its members and the groups it meets: they re-run for the
//     changed groups, the groups their rules (before and after) reference, the groups whose
//     rules reference them (a stale reference, a replacement's fix), and the groups that share
//     an interface with them (redundancy across groups, SGH-012);
//   - the VPC checks (vpcChecks: SGH-009/010/011, sprawl and sharing per VPC) re-run for the
//     VPCs of the changed groups;
//   - SGH-003 (a group is used when another group's rules name it) re-runs over all groups:
//     it is a scan of the rules, with no policy question;
//   - the exposure checks (EXP-001/002) re-run for the interfaces that carry a changed group,
//     from a policy compiled for those interfaces alone (an interface's exposure to the
//     internet depends on its own groups, subnet, routes and addresses, never on another
//     interface), so that a rule change costs the policy of its group's members, not of the
//     account;
//   - the other checks read no group: network ACL checks (the topology), MON-001/002 (alert
//     patterns), MON-003 (the rule changes and the time), MON-004 (flow logs and topology),
//     SGH-003 also launch templates. Each re-runs when what it reads changes; instances (the
//     exposure checks name an interface's instance) change with the topology and re-audit
//     everything too.
//
// Suppressions and their expiry are applied to every finding at every audit (cheap, and the
// time moves even when nothing else does).
type Incremental struct {
	cfg Config
	in  Input
	pol *policy.Policy
	a   *Audit
	// results are every check's findings before suppressions, by check ID and resource: a
	// re-run replaces those of the resources it judged.
	results map[string]map[string][]Finding
	skipped map[string]string
	// referencedBy: group ID → the groups whose rules reference it.
	referencedBy map[string]map[string]bool
}

// Check classes of the dependency rules (see Incremental).
var (
	groupChecks = []string{"SGA-001", "SGA-002", "SGA-003", "SGA-004", "SGA-005", "SGA-006", "SGA-007", "SGA-008",
		"SGA-009", "SGA-010", "SGA-011", "SGA-012", "SGA-013", "SGA-014", "SGA-015", "SGE-001", "SGE-002",
		"SGH-001", "SGH-002", "SGH-004", "SGH-005", "SGH-006", "SGH-007", "SGH-008", "SGH-012", "SGH-013"}
	vpcChecks      = []string{"SGH-009", "SGH-010", "SGH-011"}
	exposureChecks = []string{"EXP-001", "EXP-002", "EXP-003"}
)

// input parts other checks read, beside the topology (which re-audits everything).
const (
	readsGroups = 1 << iota
	readsTemplates
	readsFlowLogs
	readsAlerts
	readsChanges
)

// otherReads is what the checks outside the three classes read beside the topology.
var otherReads = map[string]int{
	"SGH-003": readsGroups | readsTemplates,
	"MON-001": readsAlerts, "MON-002": readsAlerts,
	"MON-003": readsChanges, // and the time: re-run at every audit
	"MON-004": readsFlowLogs,
	"MON-005": 0, // needs flow-log records: never runs yet (issue 16)
	// The network ACL checks read the topology only.
	"NACL-001": 0, "NACL-002": 0, "NACL-003": 0, "NACL-004": 0, "NACL-005": 0, "NACL-006": 0, "NACL-007": 0, "NACL-008": 0,
}

// classified reports whether a check is of one of the three classes (group, VPC, exposure),
// which re-run only for a change of groups.
func classified(id string) bool {
	return slices.Contains(groupChecks, id) || slices.Contains(vpcChecks, id) || slices.Contains(exposureChecks, id)
}

// rerunOther reports whether a check outside the three classes re-runs after a change of
// what reads says changed: when it reads that, when it reads the time (MON-003), and always
// when the dependency rules do not know it (a check added to the catalogue without a class
// is re-run at every audit rather than trusted; TestEveryCheckClassified asks for a class).
func rerunOther(id string, reads int) bool {
	r, known := otherReads[id]
	return !known || r&reads != 0 || id == "MON-003"
}

// NewIncremental audits in fully and keeps what the next Update needs; every finding is in
// the delta, opened.
func NewIncremental(in Input, cfg Config) (*Incremental, Delta, error) {
	x := &Incremental{cfg: cfg}
	d, err := x.full(in)
	if err != nil {
		return nil, Delta{}, err
	}
	x.a.forget()
	return x, d, nil
}

// Delta is what an audit changed: the findings opened (a key the previous audit did not
// have) and closed (a key it no longer has), by Finding.Key, each in the report's order.
// A finding that stays open with another severity or explanation is neither. Suppressed
// findings open and close too, with their suppression's reason in Suppressed (at the time
// of the audit).
type Delta struct {
	Opened, Closed []Finding
	// Full is whether the audit re-ran every check (the first one, or after a change of the
	// topology or of what is known).
	Full bool `json:"-"`
}

// diff adds to d what replacing before by after opens and closes.
func (d *Delta) diff(before, after []Finding) {
	if len(before) == 0 && len(after) == 0 {
		return
	}
	had := make(map[string]bool, len(before))
	for i := range before {
		had[before[i].Key()] = true
	}
	has := make(map[string]bool, len(after))
	for i := range after {
		k := after[i].Key()
		has[k] = true
		if !had[k] {
			d.Opened = append(d.Opened, after[i])
		}
	}
	for i := range before {
		if !has[before[i].Key()] {
			d.Closed = append(d.Closed, before[i])
		}
	}
}

// delta orders d and marks its suppressed findings at the audit's time.
func (x *Incremental) delta(d *Delta) {
	for _, fs := range [][]Finding{d.Opened, d.Closed} {
		for i := range fs {
			fs[i].Suppressed = ""
			if s := x.cfg.suppression(&fs[i], x.in.Now); s != nil {
				fs[i].Suppressed = s.Reason
			}
		}
		slices.SortFunc(fs, findingOrder)
	}
}

// full audits in from scratch; the delta is against the previous audit, if any.
func (x *Incremental) full(in Input) (Delta, error) {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	a, err := x.recompile(in)
	if err != nil {
		return Delta{}, err
	}
	prev := x.results
	x.results, x.skipped = map[string]map[string][]Finding{}, map[string]string{}
	var d Delta
	for _, c := range a.checks() {
		if missing := a.missing(c.Needs); missing != "" {
			x.skipped[c.ID] = missing
			continue
		}
		x.results[c.ID] = map[string][]Finding{}
		fresh := c.Run(a)
		for _, f := range fresh {
			x.results[c.ID][f.Resource] = append(x.results[c.ID][f.Resource], f)
		}
		d.diff(flatten(prev[c.ID]), fresh)
	}
	for id, byRes := range prev {
		if x.results[id] == nil { // skipped now
			d.diff(flatten(byRes), nil)
		}
	}
	x.referencedBy = map[string]map[string]bool{}
	for _, g := range in.Snapshot.Groups {
		x.reference(g, true)
	}
	x.delta(&d)
	d.Full = true
	return d, nil
}

// recompile makes in the audit's input, with its policy compiled and its indexes built anew.
func (x *Incremental) recompile(in Input) (*Audit, error) {
	p, err := policy.Compile(in.Snapshot)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	a := newAudit(in, x.cfg, p)
	a.setKeys = map[*model.Group][sha256.Size]byte{}
	x.in, x.pol, x.a = in, p, a
	return a, nil
}

// reference adds (or removes) g's references to the index.
func (x *Incremental) reference(g *model.Group, add bool) {
	for _, id := range peerGroups(g) {
		m := x.referencedBy[id]
		if add {
			if m == nil {
				m = map[string]bool{}
				x.referencedBy[id] = m
			}
			m[g.ID] = true
		} else if m != nil {
			delete(m, g.ID)
		}
	}
}

// peerGroups are the groups g's rules reference.
func peerGroups(g *model.Group) []string {
	var out []string
	for _, rs := range [][]model.Rule{g.Ingress, g.Egress} {
		for i := range rs {
			if id := rs[i].Peer.GroupID; id != "" && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

// Update audits in, re-running only what changed since the last audit can affect, and
// returns what it opened and closed. Report is then the report Run would give.
func (x *Incremental) Update(in Input) (Delta, error) {
	d, err := x.update(in)
	x.a.forget()
	return d, err
}

func (x *Incremental) update(in Input) (Delta, error) {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	old := x.in
	if !sameKnown(old, in) || !reflect.DeepEqual(old.Instances, in.Instances) {
		return x.full(in)
	}
	if !sameTopology(&old.Snapshot, &in.Snapshot) {
		if was, now, ok := regrouped(&old.Snapshot, &in.Snapshot); ok {
			return x.regroup(in, was, now) // regroup.go
		}
		return x.full(in)
	}
	changed, removed := diffGroups(old.Snapshot.Groups, in.Snapshot.Groups)
	reads := 0
	if len(changed)+len(removed) > 0 {
		reads |= readsGroups
	}
	if !reflect.DeepEqual(old.LaunchTemplates, in.LaunchTemplates) || !reflect.DeepEqual(old.LaunchTemplateVersions, in.LaunchTemplateVersions) {
		reads |= readsTemplates
	}
	if !reflect.DeepEqual(old.FlowLogs, in.FlowLogs) {
		reads |= readsFlowLogs
	}
	if !reflect.DeepEqual(old.AlertPatterns, in.AlertPatterns) {
		reads |= readsAlerts
	}
	if !reflect.DeepEqual(old.Changes, in.Changes) {
		reads |= readsChanges
	}
	if len(changed)+len(removed) == 0 { // the indexes and the policy still hold
		a := *x.a
		a.In, a.allGroups = in, in.Snapshot.Groups
		x.in, x.a = in, &a
		var d Delta
		for _, c := range a.checks() {
			if _, skip := x.skipped[c.ID]; !skip && !classified(c.ID) && rerunOther(c.ID, reads) {
				x.swap(c.ID, func(*Finding) bool { return true }, c.Run(&a), &d)
			}
		}
		x.delta(&d)
		return d, nil
	}
	// The policy of the new groups over the same interfaces, compiled for none of them: the
	// group checks ask it only about peers and addresses.
	gone := make([]string, len(removed))
	for i, g := range removed {
		gone[i] = g.ID
	}
	p := x.pol.WithGroups(changed, gone)
	// The audit's indexes, patched: the interfaces (and so the members) are the same.
	oldA := x.a
	olds := make(map[string]*model.Group, len(changed))
	for _, g := range changed {
		olds[g.ID] = oldA.groups[g.ID]
	}
	a := &Audit{In: in, Config: x.cfg, Policy: p, groups: oldA.groups, members: oldA.members, allGroups: in.Snapshot.Groups,
		setKeys: oldA.setKeys, vpcENIs: oldA.vpcENIs, vpcs: oldA.vpcs}
	for _, g := range removed {
		delete(a.groups, g.ID)
		delete(a.setKeys, g)
	}
	for _, g := range olds {
		delete(a.setKeys, g)
	}
	for _, g := range changed {
		a.groups[g.ID] = g
	}
	x.in, x.a, x.pol = in, a, p

	// The groups whose group-check findings may change, and their VPCs.
	dirty := map[string]bool{}
	vpcs := map[string]bool{}
	touch := func(g *model.Group) { x.touch(a, g, dirty, vpcs) }
	for _, g := range removed {
		touch(g)
		x.reference(g, false)
	}
	for _, g := range changed {
		if old := olds[g.ID]; old != nil {
			touch(old)
			x.reference(old, false)
		}
		touch(g)
		x.reference(g, true)
	}
	var d Delta
	x.rerunScoped(a, dirty, vpcs, func(id string) bool { return rerunOther(id, reads) }, &d)
	if len(changed)+len(removed) > 0 {
		if err := x.reexpose(a, changed, removed, &d); err != nil {
			return Delta{}, err
		}
	}
	x.delta(&d)
	return d, nil
}

// touch marks dirty the groups whose group-check findings a change of g may change — g, the
// groups its rules reference, those whose rules reference it, those it meets on its
// members' interfaces (a's: the same interfaces before and after, or the caller touches
// the groups an interface had before itself) — and g's VPC in vpcs.
func (x *Incremental) touch(a *Audit, g *model.Group, dirty, vpcs map[string]bool) {
	dirty[g.ID] = true
	vpcs[g.VpcID] = true
	for _, id := range peerGroups(g) {
		dirty[id] = true
	}
	for id := range x.referencedBy[g.ID] {
		dirty[id] = true
	}
	for _, n := range a.members[g.ID] {
		for _, id := range n.Groups {
			dirty[id] = true
		}
	}
}

// rerunScoped re-runs, after a change, the group checks for the dirty groups, the VPC
// checks for the groups of vpcs, and the other checks that other names (the exposure checks
// are the caller's), adding what they open and close to d.
func (x *Incremental) rerunScoped(a *Audit, dirty, vpcs map[string]bool, other func(id string) bool, d *Delta) {
	// Both lists in the account's order, from one pass over its groups (10,000 in the
	// benchmark: the pass is a good part of a change's cost). The changed VPC is almost always
	// one, compared without a map.
	var dirtyGroups, vpcGroups []*model.Group
	oneVPC := ""
	if len(vpcs) == 1 {
		for id := range vpcs {
			oneVPC = id
		}
	}
	for _, g := range a.allGroups {
		if dirty[g.ID] {
			dirtyGroups = append(dirtyGroups, g)
		}
		if oneVPC != "" && g.VpcID == oneVPC || oneVPC == "" && vpcs[g.VpcID] {
			vpcGroups = append(vpcGroups, g)
		}
	}
	for _, c := range a.checks() {
		if _, skip := x.skipped[c.ID]; skip {
			continue // what it needs is still not known (sameKnown)
		}
		switch {
		case slices.Contains(groupChecks, c.ID):
			if len(dirty) > 0 {
				x.rerun(c, a, nil, dirty, dirtyGroups, d)
			}
		case slices.Contains(vpcChecks, c.ID):
			if len(vpcs) > 0 {
				x.rerun(c, a, func(f *Finding) bool { return vpcs[f.VpcID] || vpcs[f.Resource] }, nil, vpcGroups, d)
			}
		case slices.Contains(exposureChecks, c.ID):
			// The caller's.
		case other(c.ID):
			x.swap(c.ID, func(*Finding) bool { return true }, c.Run(a), d)
		}
	}
}

// Report is the last audit's report: the findings of every check, suppressions applied at
// the audit's time, in the report's order.
func (x *Incremental) Report() *Report {
	flat := make(map[string][]Finding, len(x.results))
	for id, byRes := range x.results {
		flat[id] = flatten(byRes)
	}
	return report(x.in, x.cfg, flat, x.skipped)
}

// Counts are the last audit's findings that no suppression hides, by check and severity:
// what the server's metrics export.
func (x *Incremental) Counts() map[[2]string]int {
	out := map[[2]string]int{}
	for id, byRes := range x.results {
		for _, fs := range byRes {
			for i := range fs {
				if x.cfg.suppression(&fs[i], x.in.Now) == nil {
					out[[2]string{id, fs[i].Severity.String()}]++
				}
			}
		}
	}
	return out
}

func flatten(byRes map[string][]Finding) []Finding {
	var out []Finding
	for _, fs := range byRes {
		out = append(out, fs...)
	}
	return out
}

// swap replaces the findings of check id that stale reports stale by fresh, adding what that
// opens and closes to d.
func (x *Incremental) swap(id string, stale func(*Finding) bool, fresh []Finding, d *Delta) {
	x.swapKeys(id, stale, nil, fresh, d)
}

// swapKeys is swap where the stale findings are those of the resources keys (when not nil):
// a lookup per key, not a scan of the check's findings.
func (x *Incremental) swapKeys(id string, stale func(*Finding) bool, keys map[string]bool, fresh []Finding, d *Delta) {
	byRes := x.results[id]
	var before []Finding
	if keys != nil {
		for res := range keys {
			before = append(before, byRes[res]...)
			delete(byRes, res)
		}
	} else {
		for res, fs := range byRes {
			if len(fs) > 0 && stale(&fs[0]) {
				before = append(before, fs...)
				delete(byRes, res)
			}
		}
	}
	for _, f := range fresh {
		byRes[f.Resource] = append(byRes[f.Resource], f)
	}
	d.diff(before, fresh)
}

// rerun replaces the findings of check c that stale reports stale (or of the resources keys)
// by those of a run of c judging groups; the other findings stay as they were. stale must
// answer the same for every finding of one resource.
func (x *Incremental) rerun(c Check, a *Audit, stale func(*Finding) bool, keys map[string]bool, groups []*model.Group, d *Delta) {
	scoped := *a
	scoped.In.Snapshot.Groups = groups
	x.swapKeys(c.ID, stale, keys, c.Run(&scoped), d)
}

// reexpose re-runs the exposure checks for the interfaces that carry a changed group, from a
// policy compiled for those interfaces only (policy.ForInterfaces: every group's members stay
// those of all the interfaces).
func (x *Incremental) reexpose(a *Audit, changed, removed []*model.Group, d *Delta) error {
	judged := map[string]*model.NetworkInterface{}
	for _, g := range slices.Concat(changed, removed) { // the same members before and after
		for _, n := range a.members[g.ID] {
			judged[n.ID] = n
		}
	}
	return x.exposeAgain(a, judged, d)
}

// exposeAgain re-runs the exposure checks for the interfaces judged (by ID), from a policy
// compiled for them (and the interfaces their paths may start from) only.
func (x *Incremental) exposeAgain(a *Audit, judged map[string]*model.NetworkInterface, d *Delta) error {
	if len(judged) == 0 {
		return nil
	}
	enis := make(map[string]bool, len(judged))
	for id := range judged {
		enis[id] = true
	}
	compiled := maps.Clone(judged)
	// The analyser explains an exposure by a path from an address of the grant; an address of
	// another interface (a member of a group the rules reference, in another VPC) is that
	// interface, which the policy must then know too. Everything is reached through the
	// members index: no scan of the account's interfaces.
	for id := range enis {
		for _, gid := range compiled[id].Groups {
			if g := a.groups[gid]; g != nil {
				for _, peer := range peerGroups(g) {
					for _, n := range a.members[peer] {
						compiled[n.ID] = n
					}
				}
			}
		}
	}
	sub := a.In.Snapshot
	sub.ENIs = slices.SortedFunc(maps.Values(compiled), func(a, b *model.NetworkInterface) int { return strings.Compare(a.ID, b.ID) })
	// The analyser looks up only the groups of the interfaces it explains paths to.
	carried := map[string]*model.Group{}
	for _, n := range sub.ENIs {
		for _, id := range n.Groups {
			if g := a.groups[id]; g != nil {
				carried[id] = g
			}
		}
	}
	sub.Groups = slices.SortedFunc(maps.Values(carried), func(a, b *model.Group) int { return strings.Compare(a.ID, b.ID) })
	p, err := x.pol.ForInterfaces(sub.ENIs)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	scoped := newAudit(Input{Account: a.In.Account, Region: a.In.Region, Snapshot: sub, Instances: a.In.Instances, Now: a.In.Now}, x.cfg, p)
	scoped.judge = enis
	stale := maps.Clone(enis)
	stale[""] = true // the analyser's failure, reported without a resource
	for _, id := range exposureChecks {
		if _, ran := x.results[id]; !ran {
			continue // disabled
		}
		var fresh []Finding
		for _, f := range checkByID(id).Run(scoped) {
			if enis[f.Resource] || f.Resource == "" { // the others were compiled to explain paths
				fresh = append(fresh, f)
			}
		}
		x.swapKeys(id, nil, stale, fresh, d)
	}
	return nil
}

func checkByID(id string) Check {
	for _, c := range catalogue {
		if c.ID == id {
			return c
		}
	}
	panic("audit: no check " + id)
}

// diffGroups lists the groups of now that are new or differ from before (by ID), and the
// groups of before that are gone. Unchanged groups are the same objects in a server's
// snapshots (copy on write), so the comparison is a pointer's in the common case; and when
// the lists hold the same IDs in the same order, no index is built.
func diffGroups(before, now []*model.Group) (changed, removed []*model.Group) {
	if len(before) == len(now) {
		aligned := true
		for i := range now {
			if before[i] == now[i] {
				continue
			}
			if before[i].ID != now[i].ID {
				aligned = false
				break
			}
			if !reflect.DeepEqual(before[i], now[i]) {
				changed = append(changed, now[i])
			}
		}
		if aligned {
			return changed, nil
		}
		changed = nil
	}
	old := make(map[string]*model.Group, len(before))
	for _, g := range before {
		old[g.ID] = g
	}
	for _, g := range now {
		o, ok := old[g.ID]
		delete(old, g.ID)
		if !ok || (o != g && !reflect.DeepEqual(o, g)) {
			changed = append(changed, g)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(old)) {
		removed = append(removed, old[id])
	}
	return changed, removed
}

// sameTopology reports whether everything of the snapshots but the groups is the same.
func sameTopology(a, b *netmap.Snapshot) bool {
	return same(a.VPCs, b.VPCs) && same(a.Subnets, b.Subnets) && same(a.ENIs, b.ENIs) && same(a.PrefixLists, b.PrefixLists) &&
		same(a.NACLs, b.NACLs) && same(a.Addresses, b.Addresses) && same(a.NATGateways, b.NATGateways) &&
		same(a.RouteTables, b.RouteTables) && same(a.IGWs, b.IGWs) && same(a.EgressIGWs, b.EgressIGWs) &&
		reflect.DeepEqual(a.Halted, b.Halted)
}

// same compares two lists of objects, by pointer first.
func same[T any](a, b []*T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !reflect.DeepEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// sameKnown reports whether the same optional inputs are known (a check that was skipped
// still is, one that ran still can).
func sameKnown(a, b Input) bool {
	return (a.FlowLogs == nil) == (b.FlowLogs == nil) && (a.AlertPatterns == nil) == (b.AlertPatterns == nil) &&
		(a.Changes == nil) == (b.Changes == nil) && (a.LaunchTemplates == nil) == (b.LaunchTemplates == nil) &&
		(a.Instances == nil) == (b.Instances == nil) && a.Account == b.Account && a.Region == b.Region
}
