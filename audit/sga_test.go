package audit

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
)

// checkCase is one positive or negative case of one check: build makes the world and returns
// the resource the finding is (or is not) about.
type checkCase struct {
	check string
	name  string
	build func(w *world) string
	cfg   func(c *Config)
	want  bool
}

// adviceOnly are the checks whose fix a person has to decide (a name, a split, a merge of
// roles): their Fix is advice ("#" lines) and TestFixesClearFindings does not run it.
var adviceOnly = map[string]bool{"SGH-005": true, "SGH-008": true, "SGH-009": true, "SGH-011": true}

// runCases runs each case: the finding is there or not; and when it is, its Fix, applied to
// the snapshot as EC2 would, makes it go away.
func runCases(t *testing.T, cases []checkCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.check+"/"+c.name, func(t *testing.T) {
			w := newWorld(t)
			res := c.build(w)
			cfg := DefaultConfig()
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			fs := of(w.audit(cfg), c.check, res)
			if got := len(fs) > 0; got != c.want {
				t.Fatalf("%s on %s: found %v, want %v; findings: %+v", c.check, res, got, c.want, fs)
			}
			for _, f := range fs {
				if f.Why == "" || len(f.Fix) == 0 {
					t.Errorf("finding without Why or Fix: %+v", f)
				}
			}
			if !c.want || adviceOnly[c.check] || strings.HasPrefix(fs[0].Fix[0], "#") {
				return
			}
			for _, f := range fs {
				w.apply(f.Fix)
			}
			if after := of(w.audit(cfg), c.check, res); len(after) > 0 {
				t.Errorf("the fix %q left %+v", fs[0].Fix, after)
			}
		})
	}
}

// attached builds a group with rules and puts it on an interface.
func attached(w *world, rules ...model.Rule) string {
	g := w.group("web", rules...)
	w.eni(0, "10.0.1.10", g)
	return g.ID
}

func TestSGAChecks(t *testing.T) {
	world0 := cidr("0.0.0.0/0")
	world6 := cidr("::/0")
	runCases(t, []checkCase{
		{"SGA-001", "protocol -1 from 0.0.0.0/0", func(w *world) string { return attached(w, all(world0)) }, nil, true},
		{"SGA-001", "tcp 1-65535 from ::/0", func(w *world) string { return attached(w, in("tcp", 1, 65535, world6)) }, nil, true},
		{"SGA-001", "tcp 2-65535 is not all ports", func(w *world) string { return attached(w, in("tcp", 2, 65535, world0)) }, nil, false},
		{"SGA-001", "all traffic from a partner", func(w *world) string { return attached(w, all(cidr("198.51.100.0/24"))) }, nil, false},

		{"SGA-002", "ssh from 0.0.0.0/0", func(w *world) string { return attached(w, tcp(22, world0)) }, nil, true},
		{"SGA-002", "ssh from ::/0 is SGA-003's", func(w *world) string { return attached(w, tcp(22, world6)) }, nil, false},
		{"SGA-002", "configured admin port 2222", func(w *world) string { return attached(w, tcp(2222, world0)) },
			func(c *Config) { c.AdminPorts = []uint16{2222} }, true},
		{"SGA-002", "ssh from the office", func(w *world) string { return attached(w, tcp(22, cidr("198.51.100.7/32"))) }, nil, false},
		{"SGA-003", "rdp from ::/0", func(w *world) string { return attached(w, tcp(3389, world6)) }, nil, true},
		{"SGA-003", "rdp from 0.0.0.0/0 is SGA-002's", func(w *world) string { return attached(w, tcp(3389, world0)) }, nil, false},

		{"SGA-004", "8080 from the internet", func(w *world) string { return attached(w, tcp(8080, world0)) }, nil, true},
		{"SGA-004", "kubelet (ours) from the internet", func(w *world) string { return attached(w, tcp(10250, world6)) }, nil, true},
		{"SGA-004", "443 from the internet", func(w *world) string { return attached(w, tcp(443, world0)) }, nil, false},
		{"SGA-005", "redis from the internet", func(w *world) string { return attached(w, tcp(6379, world0)) }, nil, true},
		{"SGA-005", "redis from the app tier", func(w *world) string {
			app := w.group("app")
			return attached(w, tcp(6379, ref(app.ID)))
		}, nil, false},
		{"SGA-006", "telnet from the internet", func(w *world) string { return attached(w, tcp(23, world0)) }, nil, true},
		{"SGA-006", "dns over udp from the internet", func(w *world) string { return attached(w, in("udp", 53, 53, world0)) }, nil, true},
		{"SGA-006", "mysql is not clear-text's", func(w *world) string { return attached(w, tcp(3306, world0)) }, nil, false},

		{"SGA-007", "80-8080 from the internet (Steampipe passes it)", func(w *world) string { return attached(w, in("tcp", 80, 8080, world0)) }, nil, true},
		{"SGA-007", "gre from the internet", func(w *world) string { return attached(w, in("47", -1, -1, world0)) }, nil, true},
		{"SGA-007", "80 and 443 from the internet", func(w *world) string { return attached(w, tcp(80, world0), tcp(443, world6)) }, nil, false},
		{"SGA-007", "a load balancer's group", func(w *world) string {
			g := w.group("lb", tcp(8443, world0))
			w.eni(0, "10.0.1.20", g).InterfaceType = "network_load_balancer"
			return g.ID
		}, nil, false},
		{"SGA-007", "authorized udp 500", func(w *world) string { return attached(w, in("udp", 500, 500, world0)) },
			func(c *Config) { c.AuthorizedUDP = []uint16{500} }, false},

		{"SGA-008", "a /16 of the internet", func(w *world) string { return attached(w, tcp(443, cidr("52.0.0.0/16"))) }, nil, true},
		{"SGA-008", "an IPv6 /32", func(w *world) string { return attached(w, tcp(443, cidr("2a00:1450::/32"))) }, nil, true},
		{"SGA-008", "a /24", func(w *world) string { return attached(w, tcp(443, cidr("52.0.0.0/24"))) }, nil, false},
		{"SGA-008", "a private /8", func(w *world) string { return attached(w, tcp(443, cidr("10.0.0.0/8"))) }, nil, false},

		{"SGA-009", "a home address", func(w *world) string { return attached(w, tcp(22, cidr("81.2.69.160/32"))) }, nil, true},
		{"SGA-009", "a known office range", func(w *world) string { return attached(w, tcp(22, cidr("81.2.69.160/32"))) },
			func(c *Config) { c.KnownCIDRs = []netip.Prefix{netip.MustParsePrefix("81.2.69.0/24")} }, false},
		{"SGA-009", "documentation addresses are not public", func(w *world) string { return attached(w, tcp(22, cidr("203.0.113.5/32"))) }, nil, false},

		{"SGA-010", "an address in AWS's published range", func(w *world) string { return attached(w, tcp(443, cidr("96.127.10.0/24"))) }, nil, true},
		{"SGA-010", "an address outside every cloud range", func(w *world) string { return attached(w, tcp(443, cidr("81.2.69.0/24"))) }, nil, false},

		{"SGA-011", "icmp all types from 0.0.0.0/0", func(w *world) string { return attached(w, in("icmp", -1, -1, world0)) }, nil, true},
		{"SGA-011", "icmpv6 all types from ::/0", func(w *world) string { return attached(w, in("icmpv6", -1, -1, world6)) }, nil, true},
		{"SGA-011", "only fragmentation-needed", func(w *world) string { return attached(w, in("icmp", 3, 4, world0)) }, nil, false},

		{"SGA-012", "a range of ports", func(w *world) string { return attached(w, in("tcp", 8000, 8010, cidr("10.0.0.0/16"))) }, nil, true},
		{"SGA-012", "one port", func(w *world) string { return attached(w, tcp(8000, cidr("10.0.0.0/16"))) }, nil, false},
		{"SGA-012", "all ports is SGA-001's business, not a range", func(w *world) string { return attached(w, in("tcp", 0, 65535, cidr("10.0.1.0/24"))) }, nil, false},

		{"SGA-013", "all traffic from itself", func(w *world) string { return attached(w, all(ref("self"))) }, nil, true},
		{"SGA-013", "one port from itself", func(w *world) string { return attached(w, tcp(7000, ref("self"))) }, nil, false},

		{"SGA-014", "the whole VPC as source", func(w *world) string {
			app := w.group("app")
			w.eni(1, "10.0.2.5", app)
			return attached(w, tcp(5432, cidr("10.0.0.0/16")))
		}, nil, true},
		{"SGA-014", "a private /8", func(w *world) string { return attached(w, tcp(5432, cidr("172.16.0.0/12"))) }, nil, true},
		{"SGA-014", "the internet holds the VPC too, but is not this check's", func(w *world) string { return attached(w, tcp(5432, cidr("0.0.0.0/0"))) }, nil, false},
		{"SGA-014", "one subnet", func(w *world) string { return attached(w, tcp(5432, cidr("10.0.2.0/24"))) }, nil, false},

		{"SGA-015", "a subnet whose interfaces share a group", func(w *world) string {
			app := w.group("app")
			w.eni(1, "10.0.2.5", app)
			w.eni(1, "10.0.2.6", app)
			return attached(w, tcp(5432, cidr("10.0.2.0/24")))
		}, nil, true},
		{"SGA-015", "a subnet of mixed roles", func(w *world) string {
			w.eni(1, "10.0.2.5", w.group("app"))
			w.eni(1, "10.0.2.6", w.group("batch"))
			return attached(w, tcp(5432, cidr("10.0.2.0/24")))
		}, nil, false},
	})
}

// TestDefects is audit-checks §3, one named case per defect of the anchors that Stockade gets
// right.
func TestDefects(t *testing.T) {
	world0 := cidr("0.0.0.0/0")
	runCases(t, []checkCase{
		{"SGA-002", "§3.1 a range containing 22 (ScoutSuite compares ports for equality)",
			func(w *world) string { return attached(w, in("tcp", 0, 1024, world0)) }, nil, true},
		{"SGA-004", "§3.1 1433-1434 needs not span both (Steampipe's EC2.19 query)",
			func(w *world) string { return attached(w, tcp(1434, world0)) }, nil, true},
		{"SGA-001", "§3.2 0-65535 is all ports", func(w *world) string { return attached(w, in("tcp", 0, 65535, world0)) }, nil, true},
		{"SGA-001", "§3.2 1-65535 is all ports too (Prowler)", func(w *world) string { return attached(w, in("udp", 1, 65535, world0)) }, nil, true},
		{"SGA-002", "§3.3 UDP 3389 is RDP (Prowler checks TCP only)", func(w *world) string { return attached(w, in("udp", 3389, 3389, world0)) }, nil, true},
		{"SGA-002", "§1.1 protocol -1 opens 22", func(w *world) string { return attached(w, all(world0)) }, nil, true},
		{"SGA-002", "§1.1 ICMP type 22 is not port 22", func(w *world) string { return attached(w, in("icmp", 22, -1, world0)) }, nil, false},
		{"SGA-003", "§1.1 ICMPv6 type 3 code 22 is not port 22", func(w *world) string { return attached(w, in("icmpv6", 3, 22, cidr("::/0"))) }, nil, false},
		{"SGA-002", "§3.4 a prefix list whose entries cover /0 (Checkov treats lists as safe)", func(w *world) string {
			pl := w.prefixList("0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/2")
			return attached(w, tcp(22, model.Peer{PrefixListID: pl.ID}))
		}, nil, true},
		{"SGA-002", "§3.4 CIDRs that union to /0", func(w *world) string {
			return attached(w, tcp(22, cidr("0.0.0.0/1")), tcp(22, cidr("128.0.0.0/1")), tcp(22, cidr("10.0.0.0/8")))
		}, nil, true},
		{"SGA-003", "§1.3 the expanded IPv6 spelling of ::/0", func(w *world) string {
			c, err := model.ParseCIDR("0000:0000:0000:0000:0000:0000:0000:0000/0", true, "CidrIpv6")
			if err != nil {
				t.Fatal(err)
			}
			return attached(w, tcp(22, model.Peer{CIDR: c}))
		}, nil, true},
		{"SGA-002", "§3.5 a self rule does not hide the others (Checkov's early return)",
			func(w *world) string { return attached(w, all(ref("self")), tcp(22, world0)) }, nil, true},
		{"SGA-002", "§3.7 a dormant group is still judged (in-use gating)",
			func(w *world) string { return w.group("dormant", tcp(22, world0)).ID }, nil, true},
		{"SGH-005", "§3.8 rules count one per peer, not per permission block", func(w *world) string {
			g := w.group("many")
			for i := range 51 {
				w.add(g, tcp(443, cidr(fmt.Sprintf("81.2.%d.0/24", i))))
			}
			return g.ID
		}, nil, true},
		{"SGH-005", "§3.8 fifty rules are not too many", func(w *world) string {
			g := w.group("many")
			for i := range 50 {
				w.add(g, tcp(443, cidr(fmt.Sprintf("81.2.%d.0/24", i))))
			}
			return g.ID
		}, nil, false},
	})
}

// TestExposureSeverity: §1.6 — a group no interface carries is one step lower; one on an
// interface with a public address one step higher.
func TestExposureSeverity(t *testing.T) {
	w := newWorld(t)
	ssh := tcp(22, cidr("0.0.0.0/0"))
	dormant := w.group("dormant", ssh)
	private := w.group("private", ssh)
	w.eni(0, "10.0.1.5", private)
	public := w.group("public", ssh)
	w.eni(0, "10.0.1.6", public).PublicIP = netip.MustParseAddr("54.1.2.3")
	r := w.audit(DefaultConfig())
	got := map[string]Severity{}
	for _, g := range []*model.Group{dormant, private, public} {
		for _, f := range of(r, "SGA-002", g.ID) {
			got[g.Name] = f.Severity
		}
	}
	if diff := cmp.Diff(map[string]Severity{"dormant": Medium, "private": High, "public": Critical}, got); diff != "" {
		t.Errorf("severities (-want +got):\n%s", diff)
	}
}

// TestUnionFix: the rules that make a union the internet are the ones named and revoked; the
// private rule that merely adds to it stays.
func TestUnionFix(t *testing.T) {
	w := newWorld(t)
	g := w.group("halves", tcp(22, cidr("0.0.0.0/1")), tcp(22, cidr("128.0.0.0/1")), tcp(22, cidr("10.0.0.0/8")))
	fs := of(w.audit(DefaultConfig()), "SGA-002", g.ID)
	if len(fs) != 1 {
		t.Fatalf("findings %+v", fs)
	}
	if diff := cmp.Diff([]string{g.Ingress[0].ID, g.Ingress[1].ID}, fs[0].Rules); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	want := "aws ec2 revoke-security-group-ingress --group-id " + g.ID + " --security-group-rule-ids " + g.Ingress[0].ID + " " + g.Ingress[1].ID
	if fs[0].Fix[0] != want {
		t.Errorf("fix %q, want %q", fs[0].Fix[0], want)
	}
}

// TestAuthorizedPortsKept: SGA-007's fix revokes 80-8080 from the world and gives back the
// authorized ports it held, 80 and 443, from the same peer, so the web keeps working.
func TestAuthorizedPortsKept(t *testing.T) {
	w := newWorld(t)
	id := attached(w, in("tcp", 80, 8080, cidr("0.0.0.0/0")))
	fs := of(w.audit(DefaultConfig()), "SGA-007", id)
	if len(fs) != 1 {
		t.Fatalf("findings %+v", fs)
	}
	w.apply(fs[0].Fix)
	g := w.findGroup(id)
	var got []string
	for _, r := range g.Ingress {
		got = append(got, r.String())
	}
	if diff := cmp.Diff([]string{"peer: 0.0.0.0/0, TCP, from port: 80, to port: 80, ALLOW",
		"peer: 0.0.0.0/0, TCP, from port: 443, to port: 443, ALLOW"}, got); diff != "" {
		t.Errorf("rules after the fix (-want +got):\n%s", diff)
	}
}

// TestOpenPortsRemembersPerRuleSet: openPorts asks the matcher once per group and set of
// rules opening a port, and remembers the answer for the audit; every port of every group
// of a generated network — and of groups whose rules unite to the internet on some ports
// only — must get the matcher's own answer for that port.
func TestOpenPortsRemembersPerRuleSet(t *testing.T) {
	s := genNet(7, 4, 200, 20, 300)
	g := s.Groups[0]
	union := *g
	union.ID = "sg-union"
	union.Ingress = []model.Rule{
		{ID: "sgr-lo", Protocol: model.ProtoTCP, FromPort: 20, ToPort: 30, Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/1")}},
		{ID: "sgr-hi", Protocol: model.ProtoTCP, FromPort: 22, ToPort: 22, Peer: model.Peer{CIDR: netip.MustParsePrefix("128.0.0.0/1")}},
		{ID: "sgr-all", Protocol: model.ProtoAll, FromPort: -1, ToPort: -1, Peer: model.Peer{CIDR: netip.MustParsePrefix("::/0")}},
		{ID: "sgr-pl", Protocol: model.ProtoUDP, FromPort: 53, ToPort: 53, Peer: model.Peer{PrefixListID: "pl-00000001"}},
		{ID: "sgr-top", Protocol: model.ProtoTCP, FromPort: 65000, ToPort: 65535, Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}},
		{ID: "sgr-zero", Protocol: model.ProtoUDP, FromPort: 0, ToPort: 0, Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}},
		{ID: "sgr-odd", Protocol: model.ProtoTCP, FromPort: 40, ToPort: 30, Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}},
	}
	s.Groups = append(s.Groups, &union)
	// Prefix lists whose entries are the internet, alone or with a CIDR: a set of rules is
	// skipped as "no global address" only when none of its peers, of any kind, holds one.
	s.PrefixLists = append(s.PrefixLists,
		&model.PrefixList{ID: "pl-world", OwnerID: account, MaxEntries: 5, Entries: []model.PLEntry{{CIDR: netip.MustParsePrefix("0.0.0.0/0")}}},
		&model.PrefixList{ID: "pl-upper", OwnerID: account, MaxEntries: 5, Entries: []model.PLEntry{{CIDR: netip.MustParsePrefix("128.0.0.0/1")}}})
	lists := *g
	lists.ID = "sg-lists"
	lists.Ingress = []model.Rule{
		{ID: "sgr-world", Protocol: model.ProtoTCP, FromPort: 443, ToPort: 443, Peer: model.Peer{PrefixListID: "pl-world"}},
		{ID: "sgr-upper", Protocol: model.ProtoTCP, FromPort: 8000, ToPort: 9000, Peer: model.Peer{PrefixListID: "pl-upper"}},
		{ID: "sgr-lower", Protocol: model.ProtoTCP, FromPort: 8443, ToPort: 8443, Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/1")}},
		{ID: "sgr-internal", Protocol: model.ProtoUDP, FromPort: 0, ToPort: 65535, Peer: model.Peer{CIDR: netip.MustParsePrefix("10.0.0.0/8")}},
	}
	s.Groups = append(s.Groups, &lists)
	// More than eight rules: sets of rules that differ only past the first byte of their mask.
	wide := *g
	wide.ID = "sg-wide"
	wide.Ingress = nil
	for i := range 8 {
		wide.Ingress = append(wide.Ingress, model.Rule{ID: fmt.Sprintf("sgr-in%d", i), Protocol: model.ProtoTCP, FromPort: 9999, ToPort: 9999,
			Peer: model.Peer{CIDR: netip.MustParsePrefix("10.0.0.0/8")}})
	}
	wide.Ingress = append(wide.Ingress,
		model.Rule{ID: "sgr-ssh4", Protocol: model.ProtoTCP, FromPort: 22, ToPort: 22, Peer: model.Peer{CIDR: netip.MustParsePrefix("0.0.0.0/0")}},
		model.Rule{ID: "sgr-web6", Protocol: model.ProtoTCP, FromPort: 80, ToPort: 80, Peer: model.Peer{CIDR: netip.MustParsePrefix("::/0")}})
	s.Groups = append(s.Groups, &wide)
	in := Input{Account: account, Region: "us-east-1", Snapshot: s}
	p, err := policy.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	a := newAudit(in, DefaultConfig(), p)
	var ps []servicePort
	for _, port := range []uint16{0, 1, 19, 20, 21, 22, 23, 30, 31, 35, 40, 41, 53, 54, 80, 443, 999, 1000, 1500, 2000, 2001, 2500, 2999,
		3000, 3306, 5432, 6379, 8000, 8080, 8443, 8444, 9000, 9001, 9200, 64999, 65000, 65534, 65535} {
		ps = append(ps, servicePort{"svc", port})
	}
	for round := range 2 { // the second round answers from what the first remembered
		for _, g := range s.Groups {
			var want []portHit
			for _, sp := range ps {
				for _, proto := range []int{model.ProtoNumTCP, model.ProtoNumUDP} {
					v4, v6 := p.InternetOpen(g.Ingress, func(o policy.Opening) bool { return o.Port(proto, sp.port) })
					if v4 != nil || v6 != nil {
						want = append(want, portHit{model.ProtocolName(proto), sp, v4, v6})
					}
				}
			}
			if diff := cmp.Diff(want, a.openPorts(g, ps), cmp.AllowUnexported(portHit{}, servicePort{})); diff != "" {
				t.Fatalf("round %d, %s: openPorts differs from the matcher (-matcher +openPorts):\n%s", round, g.ID, diff)
			}
		}
	}
	if len(a.memo) == 0 {
		t.Fatal("openPorts remembered nothing")
	}
}

// TestCIDRListFollowsTheGroups: the CIDR rules six checks walk are listed once per audit, for
// the groups the checks judge — and listed again for a scoped run judging other groups (a
// continuous audit's copy of the audit): fewer of them from the same start, as many from
// another start.
func TestCIDRListFollowsTheGroups(t *testing.T) {
	s := genNet(5, 3, 40, 20, 30)
	p, err := policy.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	a := newAudit(Input{Account: account, Snapshot: s}, DefaultConfig(), p)
	want := func(groups []*model.Group, egress bool) []string {
		var out []string
		for _, g := range groups {
			for _, r := range g.Rules(egress) {
				if r.Peer.CIDR.IsValid() {
					out = append(out, g.ID+" "+r.ID+" "+r.Peer.CIDR.String())
				}
			}
		}
		return out
	}
	got := func(a *Audit, egress bool) []string {
		var out []string
		for _, x := range a.cidrList(egress) {
			out = append(out, x.g.ID+" "+x.r.ID+" "+x.cidr.String())
		}
		return out
	}
	for _, groups := range [][]*model.Group{s.Groups, s.Groups, s.Groups[3:7], s.Groups[5:9], s.Groups[:5], s.Groups[:5], s.Groups} {
		scoped := *a
		scoped.In.Snapshot.Groups = groups
		for _, egress := range []bool{false, true} {
			if d := cmp.Diff(want(groups, egress), got(&scoped, egress)); d != "" {
				t.Fatalf("%d groups from %s, egress %v (-want +cidrList):\n%s", len(groups), groups[0].ID, egress, d)
			}
		}
		*a = scoped // what it remembered goes on to the next run
	}
}
