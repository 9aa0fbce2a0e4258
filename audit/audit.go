package audit

import (
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"go4.org/netipx"

	"github.com/stockade/stockade/flows"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/policy"
)

// Severity is a finding's severity, as the catalogue gives it (audit-checks §2.1).
type Severity int

const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = []string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a severity name, in any case.
func ParseSeverity(s string) (Severity, error) {
	if i := slices.Index(severityNames, strings.ToLower(s)); i >= 0 {
		return Severity(i), nil
	}
	return 0, fmt.Errorf("unknown severity %q (one of %s)", s, strings.Join(severityNames, ", "))
}

func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// Finding is one thing a check found: which check, how bad, on which resource and rules, why,
// and the AWS CLI commands that, run in order, make it go away.
type Finding struct {
	Check    string   `json:"check"` // "SGA-002"
	Title    string   `json:"title"`
	Severity Severity `json:"severity"`
	Account  string   `json:"account,omitempty"`
	Region   string   `json:"region,omitempty"`
	// ResourceType is CloudFormation's name of the resource's type (AWS::EC2::SecurityGroup,
	// AWS::EC2::NetworkAcl, AWS::EC2::NetworkInterface, AWS::EC2::VPC, AWS::EC2::Subnet…), as
	// Security Hub and the trail name them; Resource its ID.
	ResourceType string `json:"resourceType"`
	Resource     string `json:"resource"`
	VpcID        string `json:"vpcId,omitempty"`
	// Rules are the rules the finding is about: sgr- IDs, or network ACL entries written
	// "acl-…/ingress/100".
	Rules []string `json:"rules,omitempty"`
	// Why says what exactly is wrong, naming the rule's protocol, ports and peer, or for EXP-*
	// the path with its rules, as `stockade reach` explains it.
	Why string   `json:"why"`
	Fix []string `json:"fix,omitempty"`
	// Suppressed is the reason of the suppression that matched it, when one did.
	Suppressed string `json:"suppressed,omitempty"`
}

// Key identifies a finding across audits — the check, the resource and its rules, or only the
// check and resource for a check whose findings are about the resource as a whole
// (Check.Whole) — so that a continuous audit can tell a finding that stays open from a new
// one, and a suppression can name it.
func (f *Finding) Key() string {
	if whole[f.Check] {
		return f.Check + " " + f.Resource
	}
	return f.Check + " " + f.Resource + " " + strings.Join(f.Rules, ",")
}

// KeyDigest is Key's SHA-256: what an index of findings by key holds instead of the key,
// which may name many rules (an exposure through several).
func (f *Finding) KeyDigest() [sha256.Size]byte { return sha256.Sum256([]byte(f.Key())) }

// A Fix line that starts with "#" is advice a person has to act on; every other line is a
// command for a POSIX shell — an AWS CLI call, or a shell variable set from one ($SG) that
// later lines of the same Fix use — to run as printed, in order, with the AWS CLI pointed at
// the account (a profile, AWS_ENDPOINT_URL for a Stockade server). A command may hold
// placeholders, written <what>, for what only the operator knows (a tag's value, why a rule
// is there, which ACL a subnet moves to); each is inside single quotes, so that its
// replacement may hold spaces. Placeholders lists them.
var placeholder = regexp.MustCompile(`<[^<>']+>`)

// Placeholders lists the placeholders of a Fix command, in order, each once.
func Placeholders(cmd string) []string {
	var out []string
	for _, p := range placeholder.FindAllString(cmd, -1) {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Input is what an audit looks at: one account and region's network as the reachability
// analyser reads it (a running server's state or an AWS CLI export), and what the checks
// need beside it. A nil field the checks need means "not known": the checks that need it say
// so (Report.Skipped) rather than guess.
type Input struct {
	Account, Region string
	Snapshot        netmap.Snapshot
	// Instances, LaunchTemplates and FlowLogs feed SGH-003 (groups named by a launch
	// template are in use), EXP-* (the instance behind an interface) and MON-004.
	Instances       []*model.Instance
	LaunchTemplates []*model.LaunchTemplate
	// LaunchTemplateVersions are the templates' versions, every one of them (any version can
	// be launched): where a template names its groups (SGH-003). Whoever fills
	// LaunchTemplates fills these too; SGH-003 trusts them when LaunchTemplates is known.
	LaunchTemplateVersions []*model.LaunchTemplateVersion
	FlowLogs               []*model.FlowLog
	// AlertPatterns are the event patterns of the account's enabled alert rules (MON-001,
	// MON-002); nil when the auditor cannot see them (an export without them).
	AlertPatterns []json.RawMessage
	// Changes are the rule changes of the trail, oldest first, for MON-003; nil when not
	// known.
	Changes []RuleChange
	// FlowRecords are the flow-log records of the account's flow logs (MON-005), read from the
	// server's destinations or an export; nil when not known.
	FlowRecords []flows.Record
	// Now is the audit's time (suppression expiry, MON-003's window); zero means time.Now.
	Now time.Time
}

// RuleChange is one rule added or removed, from the change trail.
type RuleChange struct {
	Time    time.Time
	GroupID string
	RuleID  string
	Added   bool // false: removed
	Rule    model.Rule
	// EventID is the trail record's, for the finding's explanation.
	EventID string
}

// Check is one entry of the catalogue.
type Check struct {
	ID       string
	Title    string
	Severity Severity // the catalogue's; a check may raise or lower it per finding
	// Needs names the Input fields the check cannot run without ("FlowLogs", …).
	Needs []string
	// Whole says that the check finds at most one thing per resource, about the resource as
	// a whole, and that a finding's Rules are what it found there at the time: the default
	// group's rules (SGH-001), the rules without a description (SGH-006). A rule added or
	// removed then changes the finding, not which finding it is, so its Key leaves the rules
	// out. Otherwise every authorize of a rule without a description closed the group's
	// SGH-006 episode and opened another: two events on the bus, and a closed episode that
	// pushed an older one out of the bounded history (History).
	Whole bool
	Run   func(*Audit) []Finding
}

// catalogue is every check, registered by the files of the families; whole are the IDs of
// those that are Whole. Both are written only by the files' init functions.
var (
	catalogue []Check
	whole     = map[string]bool{}
)

func register(cs ...Check) {
	catalogue = append(catalogue, cs...)
	for _, c := range cs {
		if c.Whole {
			whole[c.ID] = true
		}
	}
}

// Catalogue lists the checks, in ID order.
func Catalogue() []Check {
	out := slices.Clone(catalogue)
	slices.SortFunc(out, func(a, b Check) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Audit is one audit in progress: what the checks read. Indexes that several checks need are
// built once, here.
type Audit struct {
	In     Input
	Config Config
	Policy *policy.Policy

	groups  map[string]*model.Group
	members map[string][]*model.NetworkInterface // group ID → interfaces that carry it
	// allGroups are every group of the input. In.Snapshot.Groups are the groups the checks
	// judge: the same, except in an incremental audit's scoped run (incremental.go), where a
	// check that looks beyond the group it judges reads allGroups, groups and members.
	allGroups []*model.Group
	// setKeys remembers SGH-010's rule-set key of each group (nil: not remembered); vpcENIs
	// counts the interfaces of each VPC (SGH-011; nil until counted). A continuous audit
	// carries both from one audit to the next while they hold.
	setKeys map[*model.Group][sha256.Size]byte
	vpcENIs map[string]int

	// memo is what the checks work out about a group object once per audit (groupMemo).
	memo map[*model.Group]*groupMemo
	// titles are the catalogue's checks by ID (finding).
	titles map[string]*Check
	// setPrefixes are the prefixes of the peer sets SGH-012 compares (prefixesOf), setRanges
	// the ranges of the exposures' grants (rangesOf).
	setPrefixes map[*netipx.IPSet][]netip.Prefix
	setRanges   map[*netipx.IPSet][]netipx.IPRange
	// cidrs are the CIDR rules of each direction (cidrList).
	cidrs [2]cidrCache
	// judge, when not nil, are the only interfaces the exposure checks judge (an incremental
	// audit's scoped run): the snapshot's others are there for the analyser to explain paths
	// from.
	judge map[string]bool
	// enis indexes the snapshot's interfaces by ID (eni), for this audit.
	enis map[string]*model.NetworkInterface
	// vpcs indexes the snapshot's VPCs (vpcIndex), for this audit.
	vpcs map[string]*vpcEntry
	// referencedIDs are the groups another group's rules name (referenced), for this audit.
	referencedIDs map[string]bool

	// naclTaken are the ACL rule numbers ("acl-… egress n") the fixes of this audit create
	// entries at, so that the fixes of different findings never collide.
	naclTaken map[string]bool
	// exp is the reachability analyser and the exposure the EXP checks share (exposure).
	exp *exposureState
}

// groupMemo is what the checks work out about one group object, remembered for the audit
// (groups are not changed in place: a changed group is a new object). Indexes [0] and [1] are
// ingress and egress, or TCP and UDP.
type groupMemo struct {
	globals [2][]byte           // globalRules
	ops     [2][]policy.Opening // openingsOf
	cover   [2]*coverIndex      // coverIndexOf
	segs    [2]*portSegments    // portSegments
	// opens are internetOpenAt's answers of the matcher per set of the group's ingress rules
	// (a bit per rule).
	opens map[string]*openAnswer
}

// memoOf is g's memo, made on first use.
func (a *Audit) memoOf(g *model.Group) *groupMemo {
	m := a.memo[g]
	if m == nil {
		if a.memo == nil {
			a.memo = map[*model.Group]*groupMemo{}
		}
		m = &groupMemo{}
		a.memo[g] = m
	}
	return m
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// remembered is (*m)[k], made by mk and kept in *m (itself made on first use) when *m has
// none: the audit's memories of what it reads once per set (prefixesOf, rangesOf).
func remembered[K comparable, V any](m *map[K]V, k K, mk func() V) V {
	v, ok := (*m)[k]
	if !ok {
		v = mk()
		if *m == nil {
			*m = map[K]V{}
		}
		(*m)[k] = v
	}
	return v
}

// Group returns the group with id, nil when there is none.
func (a *Audit) Group(id string) *model.Group { return a.groups[id] }

// Members are the interfaces that carry group id.
func (a *Audit) Members(id string) []*model.NetworkInterface { return a.members[id] }

// finding starts a finding of check c on a resource, with the audit's account and region.
func (a *Audit) finding(c string, typ, resource string) Finding {
	f := Finding{Check: c, Account: a.In.Account, Region: a.In.Region, ResourceType: typ, Resource: resource}
	if a.titles == nil { // the catalogue by ID, for this audit (a full audit starts tens of thousands of findings)
		a.titles = make(map[string]*Check, len(catalogue))
		for i := range catalogue {
			a.titles[catalogue[i].ID] = &catalogue[i]
		}
	}
	if ch := a.titles[c]; ch != nil {
		f.Title, f.Severity = ch.Title, ch.Severity
	}
	return f
}

// Report is an audit's result.
type Report struct {
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`
	// Checks is how many checks ran; Skipped the ones that could not, each with why.
	Checks   int               `json:"checks"`
	Skipped  map[string]string `json:"skipped,omitempty"`
	Findings []Finding         `json:"findings"`
	// Suppressed are the findings a suppression of the configuration hides, each with its
	// reason; expired suppressions hide nothing.
	Suppressed []Finding `json:"suppressed,omitempty"`
}

// Worst is the highest severity among the findings, and false when there are none.
func (r *Report) Worst() (Severity, bool) {
	if len(r.Findings) == 0 {
		return 0, false
	}
	w := Info
	for _, f := range r.Findings {
		w = max(w, f.Severity)
	}
	return w, true
}

// Run audits in with cfg: every check of the catalogue the configuration does not disable,
// suppressions applied, findings ordered by severity (worst first), check and resource.
func Run(in Input, cfg Config) (*Report, error) {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	p, err := policy.Compile(in.Snapshot)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	a := newAudit(in, cfg, p)
	results, skipped := a.runLanes()
	return report(in, cfg, results, skipped), nil
}

// runLanes runs the checks the configuration enables in two lanes side by side (one after the
// other, on the caller's goroutine, with Config.Workers 1), each on a copy of a with memories
// of its own (the caches of audit.go's Audit are not shared between goroutines), split by
// laneOf. Every check judges only what it reads; the only state a check leaves for a later
// one is the network ACL rule numbers its fixes take (naclTaken), and the NACL-* checks all
// run in one lane, in ID order, as before. The exposure
// (policy.Exposure, itself spread over the cores) is computed at the start of the lane of the
// EXP checks, the only ones that read it, while the other lane runs: it was the longest step
// before the lanes.
func (a *Audit) runLanes() (results map[string][]Finding, skipped map[string]string) {
	var lanes [2][]Check
	skipped = map[string]string{}
	var exposure [2]bool
	for _, c := range a.checks() {
		if missing := a.missing(c.Needs); missing != "" {
			skipped[c.ID] = missing
			continue
		}
		lane := laneOf(c.ID)
		lanes[lane] = append(lanes[lane], c)
		exposure[lane] = exposure[lane] || strings.HasPrefix(c.ID, "EXP-")
	}
	var out [2]map[string][]Finding
	var wg sync.WaitGroup
	for i, checks := range lanes {
		l := a.lane()
		run := func() {
			if exposure[i] {
				l.exposure()
			}
			out[i] = l.runChecks(checks)
		}
		if a.Config.Workers == 1 {
			run()
		} else {
			wg.Go(run)
		}
	}
	wg.Wait()
	results = out[0]
	maps.Copy(results, out[1])
	return results, skipped
}

// laneOf is the lane of check id: the SGA-*, SGE-* and SGH-* checks but SGH-012 in one; SGH-012
// (redundant rules), the exposure and the EXP-*, NACL-* and MON-* checks in the other. On the
// benchmark's network that is about half the time each (BENCHMARKS.md).
func laneOf(id string) int {
	if id != "SGH-012" && (strings.HasPrefix(id, "SGA-") || strings.HasPrefix(id, "SGE-") || strings.HasPrefix(id, "SGH-")) {
		return 0
	}
	return 1
}

// lane is a copy of a sharing what the checks only read (the input, the policy, the groups,
// members and the exposure) and with empty memories of its own.
func (a *Audit) lane() *Audit {
	l := *a
	l.memo, l.titles, l.setPrefixes, l.setRanges, l.vpcs, l.enis, l.naclTaken = nil, nil, nil, nil, nil, nil, nil
	l.cidrs = [2]cidrCache{}
	return &l
}

// forget drops what the audit worked out for its checks: the memories lane leaves empty,
// the index of references and the exposure. An incremental audit keeps its last Audit only
// for the groups, members and indexes that still hold (incremental.go); what a later run
// asks of the rest is worked out again. At 10,000 groups it was some 30 MB kept between
// audits.
func (a *Audit) forget() {
	a.memo, a.setPrefixes, a.setRanges, a.enis, a.naclTaken, a.referencedIDs, a.exp = nil, nil, nil, nil, nil, nil, nil
	a.cidrs = [2]cidrCache{}
}

// runChecks runs checks in order, by check ID.
func (a *Audit) runChecks(checks []Check) map[string][]Finding {
	results := make(map[string][]Finding, len(checks))
	for _, c := range checks {
		results[c.ID] = c.Run(a)
	}
	return results
}

// newAudit is an audit of in with cfg answering from p, which must be in.Snapshot compiled,
// with the indexes the checks share.
func newAudit(in Input, cfg Config, p *policy.Policy) *Audit {
	a := &Audit{In: in, Config: cfg, Policy: p, groups: make(map[string]*model.Group, len(in.Snapshot.Groups)),
		members: map[string][]*model.NetworkInterface{}, allGroups: in.Snapshot.Groups}
	for _, g := range in.Snapshot.Groups {
		a.groups[g.ID] = g
	}
	for _, e := range in.Snapshot.ENIs {
		for _, g := range e.Groups {
			a.members[g] = append(a.members[g], e)
		}
	}
	return a
}

// checks are the catalogue's checks the configuration does not disable, in ID order.
func (a *Audit) checks() []Check {
	var out []Check
	for _, c := range Catalogue() {
		if !slices.Contains(a.Config.Disabled, c.ID) {
			out = append(out, c)
		}
	}
	return out
}

// report assembles the results of the checks that ran (by check ID) and those skipped (with
// why) into a report: suppressions applied at in.Now, findings in the report's order.
func report(in Input, cfg Config, results map[string][]Finding, skipped map[string]string) *Report {
	n := 0
	for _, fs := range results {
		n += len(fs)
	}
	r := &Report{Account: in.Account, Region: in.Region, Checks: len(results)}
	if len(skipped) > 0 {
		r.Skipped = skipped
	}
	// The findings are sorted as pointers into the checks' results and copied once, in order,
	// into the report: the checks' results are not changed (a continuous audit keeps them).
	shown := make([]*Finding, 0, n)
	var suppressed []*Finding
	for _, fs := range results {
		for i := range fs {
			f := &fs[i]
			if s := cfg.suppression(f, in.Now); s != nil {
				c := *f
				c.Suppressed = s.Reason
				suppressed = append(suppressed, &c)
				continue
			}
			shown = append(shown, f)
		}
	}
	r.Findings = sortedFindings(shown, cfg.Workers != 1)
	if suppressed != nil {
		r.Suppressed = sortedFindings(suppressed, cfg.Workers != 1)
	}
	return r
}

// findingOrder is the report's order: severity (worst first), check, resource, rules.
func findingOrder(a, b Finding) int { return findingOrderOf(&a, &b) }

func findingOrderOf(a, b *Finding) int {
	return cmp.Or(cmp.Compare(b.Severity, a.Severity), cmp.Compare(a.Check, b.Check),
		cmp.Compare(a.Resource, b.Resource), slices.Compare(a.Rules, b.Rules))
}

// sortedFindings are the findings ps point to, in findingOrder. Pointers are sorted, not the
// findings (a few hundred bytes each, and a full audit of a large account has tens of
// thousands); a long list in two halves side by side, merged as the findings are copied. The
// findings of a report differ in check, resource or rules (Key), so the order is the same
// whichever way they are sorted. Without parallel, it sorts on the caller's goroutine only.
func sortedFindings(ps []*Finding, parallel bool) []Finding {
	out := make([]Finding, len(ps))
	if len(ps) < parallelSort || !parallel {
		slices.SortFunc(ps, findingOrderOf)
		for i, p := range ps {
			out[i] = *p
		}
		return out
	}
	h := len(ps) / 2
	var wg sync.WaitGroup
	wg.Go(func() { slices.SortFunc(ps[:h], findingOrderOf) })
	slices.SortFunc(ps[h:], findingOrderOf)
	wg.Wait()
	i, j := 0, h
	for k := range out {
		if j == len(ps) || i < h && findingOrderOf(ps[i], ps[j]) <= 0 {
			out[k], i = *ps[i], i+1
		} else {
			out[k], j = *ps[j], j+1
		}
	}
	return out
}

// parallelSort is the number of findings from which sortedFindings sorts two halves side by
// side.
const parallelSort = 4096

// missing says which of the inputs a check needs are not known, "" when all are.
func (a *Audit) missing(needs []string) string {
	var out []string
	for _, n := range needs {
		known := true
		switch n {
		case "FlowLogs":
			known = a.In.FlowLogs != nil
		case "AlertPatterns":
			known = a.In.AlertPatterns != nil
		case "Changes":
			known = a.In.Changes != nil
		case "LaunchTemplates":
			known = a.In.LaunchTemplates != nil
		case "Instances":
			known = a.In.Instances != nil
		case "FlowRecords":
			known = a.In.FlowRecords != nil
		default:
			panic("audit: unknown input " + n)
		}
		if !known {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "not known: " + strings.Join(out, ", ")
}
