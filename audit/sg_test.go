package audit

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// This file holds what the tests of the security-group families share: a small world to
// build snapshots in, and an interpreter of the AWS CLI commands of a finding's Fix that
// applies them to a snapshot the way EC2 would (refusing what EC2 refuses), so that a test
// can run a fix and audit again.

type world struct {
	t   testing.TB
	s   netmap.Snapshot
	vpc *model.VPC
	sn  []*model.Subnet
	n   int
	// versions are the launch-template versions of the input.
	versions []*model.LaunchTemplateVersion
}

const account = "111122223333"

func newWorld(t testing.TB) *world {
	v := &model.VPC{ID: "vpc-00000001", OwnerID: account, CIDR: netip.MustParsePrefix("10.0.0.0/16"),
		IPv6CIDR: netip.MustParsePrefix("2600:1f18:1:100::/56")}
	w := &world{t: t, vpc: v}
	w.s.VPCs = []*model.VPC{v}
	for _, c := range []string{"10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"} {
		sn := &model.Subnet{ID: w.id("subnet"), VpcID: v.ID, CIDR: netip.MustParsePrefix(c)}
		w.sn = append(w.sn, sn)
		w.s.Subnets = append(w.s.Subnets, sn)
	}
	return w
}

func (w *world) id(prefix string) string { w.n++; return fmt.Sprintf("%s-%08x", prefix, w.n) }

// group adds a described, tagged group (so that hygiene checks stay quiet unless a test
// wants them) with rules, each described.
func (w *world) group(name string, rules ...model.Rule) *model.Group {
	g := &model.Group{ID: w.id("sg"), Name: name, Description: name + " tier", VpcID: w.vpc.ID, OwnerID: account,
		Tags: model.Tags{"owner": "team"}}
	for _, r := range rules {
		w.add(g, r)
	}
	w.s.Groups = append(w.s.Groups, g)
	return g
}

func (w *world) add(g *model.Group, r model.Rule) *model.Rule {
	r.ID = w.id("sgr")
	if r.Description == "" {
		r.Description = "test"
	}
	if r.Peer.GroupID == "self" {
		r.Peer.GroupID = g.ID
	}
	if r.Egress {
		g.Egress = append(g.Egress, r)
		return &g.Egress[len(g.Egress)-1]
	}
	g.Ingress = append(g.Ingress, r)
	return &g.Ingress[len(g.Ingress)-1]
}

// eni adds an interface in subnet i with address ip carrying groups.
func (w *world) eni(i int, ip string, groups ...*model.Group) *model.NetworkInterface {
	n := &model.NetworkInterface{ID: w.id("eni"), SubnetID: w.sn[i].ID, VpcID: w.vpc.ID, OwnerID: account,
		PrivateIP: netip.MustParseAddr(ip)}
	for _, g := range groups {
		n.Groups = append(n.Groups, g.ID)
	}
	w.s.ENIs = append(w.s.ENIs, n)
	return n
}

func (w *world) prefixList(cidrs ...string) *model.PrefixList {
	pl := &model.PrefixList{ID: w.id("pl"), OwnerID: account, MaxEntries: 10}
	for _, c := range cidrs {
		pl.Entries = append(pl.Entries, model.PLEntry{CIDR: netip.MustParsePrefix(c)})
	}
	w.s.PrefixLists = append(w.s.PrefixLists, pl)
	return pl
}

func (w *world) input() Input {
	return Input{Account: account, Region: "us-east-1", Snapshot: w.s, LaunchTemplates: []*model.LaunchTemplate{},
		LaunchTemplateVersions: w.versions, Now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
}

func (w *world) audit(cfg Config) *Report {
	w.t.Helper()
	r, err := Run(w.input(), cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	fixLinesRunnable(w.t, r)
	return r
}

// of lists the report's findings of check c on resource res.
func of(r *Report, c, res string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Check == c && f.Resource == res {
			out = append(out, f)
		}
	}
	return out
}

func cidr(s string) model.Peer { return model.Peer{CIDR: netip.MustParsePrefix(s).Masked()} }
func ref(id string) model.Peer { return model.Peer{GroupID: id} }

func in(proto string, from, to int32, p model.Peer) model.Rule {
	return model.Rule{Protocol: proto, FromPort: from, ToPort: to, Peer: p}
}
func out(proto string, from, to int32, p model.Peer) model.Rule {
	return model.Rule{Egress: true, Protocol: proto, FromPort: from, ToPort: to, Peer: p}
}
func tcp(port int32, p model.Peer) model.Rule { return in("tcp", port, port, p) }
func all(p model.Peer) model.Rule             { return in("-1", -1, -1, p) }

// apply runs a finding's Fix against the world's snapshot as EC2 would. Lines starting with
// "#" are advice and skipped; anything EC2 would refuse (a duplicate rule, an unknown rule
// ID, deleting a group still in use) fails the test.
func (w *world) apply(fix []string) {
	w.t.Helper()
	vars := map[string]string{}
	for _, line := range fix {
		if strings.HasPrefix(line, "#") {
			continue
		}
		assign := ""
		if i := strings.Index(line, "=$("); i > 0 && !strings.Contains(line[:i], " ") {
			assign, line = line[:i], strings.TrimSuffix(line[i+3:], ")")
		}
		out := w.run(shellWords(w.t, line, vars))
		if assign != "" {
			vars[assign] = out
		}
	}
}

// shellWords splits a command line as a POSIX shell would for the commands fixes use: single
// quotes, double quotes with $VAR, and $VAR outside quotes.
func shellWords(t testing.TB, line string, vars map[string]string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	expand := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "$"+k, v)
		}
		if strings.Contains(s, "$") {
			t.Fatalf("unset variable in %q", line)
		}
		return s
	}
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case ' ':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case '\'', '"':
			j := strings.IndexByte(line[i+1:], c)
			if j < 0 {
				t.Fatalf("unterminated quote in %q", line)
			}
			s := line[i+1 : i+1+j]
			if c == '"' {
				s = expand(s)
			}
			cur.WriteString(s)
			inWord, i = true, i+1+j
		default:
			if c == '$' {
				end := i + 1
				for end < len(line) && (line[end] == '_' || line[end] >= 'A' && line[end] <= 'Z') {
					end++
				}
				cur.WriteString(expand(line[i:end]))
				inWord, i = true, end-1
				continue
			}
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// flags reads "--name value…" arguments: each flag's values up to the next flag.
func flags(args []string) map[string][]string {
	out := map[string][]string{}
	name := ""
	for _, a := range args {
		if strings.HasPrefix(a, "--") {
			name = a[2:]
			out[name] = []string{}
			continue
		}
		out[name] = append(out[name], a)
	}
	return out
}

// run is one command; it returns what the command prints with --query … --output text.
func (w *world) run(args []string) string {
	w.t.Helper()
	if len(args) < 3 || args[0] != "aws" || args[1] != "ec2" {
		w.t.Fatalf("not an EC2 command: %q", args)
	}
	f := flags(args[3:])
	one := func(name string) string {
		if len(f[name]) != 1 {
			w.t.Fatalf("%s: --%s wants one value, has %q", args[2], name, f[name])
		}
		return f[name][0]
	}
	switch verb := args[2]; verb {
	case "revoke-security-group-ingress", "revoke-security-group-egress":
		egress := strings.HasSuffix(verb, "egress")
		g := w.mutable(one("group-id"))
		var gone []string
		if perm, ok := f["ip-permissions"]; ok {
			r := parsePermission(w.t, perm[0], egress)
			for _, x := range g.Rules(egress) {
				if x.Identity() == r.Identity() {
					gone = append(gone, x.ID)
				}
			}
		} else {
			gone = f["security-group-rule-ids"]
		}
		for _, id := range gone {
			i := g.FindRule(egress, id)
			if i < 0 {
				w.t.Fatalf("%s: InvalidSecurityGroupRuleId.NotFound %s", verb, id)
			}
			if egress {
				g.Egress = slices.Delete(g.Egress, i, i+1)
			} else {
				g.Ingress = slices.Delete(g.Ingress, i, i+1)
			}
		}
	case "authorize-security-group-ingress", "authorize-security-group-egress":
		egress := strings.HasSuffix(verb, "egress")
		g := w.mutable(one("group-id"))
		r := parsePermission(w.t, one("ip-permissions"), egress)
		if r.Peer.GroupID != "" && w.findGroup(r.Peer.GroupID) == nil {
			w.t.Fatalf("%s: InvalidGroup.NotFound %s", verb, r.Peer.GroupID)
		}
		if has(g, r, nil) {
			w.t.Fatalf("%s: InvalidPermission.Duplicate %s", verb, r.String())
		}
		w.add(g, r)
	case "create-security-group":
		g := &model.Group{ID: w.id("sg"), Name: one("group-name"), Description: one("description"), VpcID: one("vpc-id"), OwnerID: account}
		w.add(g, awsEgress)
		w.s.Groups = append(w.s.Groups, g)
		return g.ID
	case "delete-security-group":
		id := one("group-id")
		for _, n := range w.s.ENIs {
			if slices.Contains(n.Groups, id) {
				w.t.Fatalf("delete %s: DependencyViolation: %s carries it", id, n.ID)
			}
		}
		for _, g := range w.s.Groups {
			for _, egress := range []bool{false, true} {
				for _, r := range g.Rules(egress) {
					if r.Peer.GroupID == id && g.ID != id {
						w.t.Fatalf("delete %s: DependencyViolation: %s names it", id, g.ID)
					}
				}
			}
		}
		w.s.Groups = slices.DeleteFunc(slices.Clone(w.s.Groups), func(g *model.Group) bool { return g.ID == id })
	case "modify-network-interface-attribute":
		id := one("network-interface-id")
		for i, n := range w.s.ENIs {
			if n.ID == id {
				c := n.Clone()
				c.Groups = f["groups"]
				for _, gid := range c.Groups {
					if w.findGroup(gid) == nil {
						w.t.Fatalf("%s: InvalidGroup.NotFound %s", verb, gid)
					}
				}
				w.s.ENIs = slices.Clone(w.s.ENIs)
				w.s.ENIs[i] = c
				return ""
			}
		}
		w.t.Fatalf("%s: no interface %s", verb, id)
	case "create-tags":
		g := w.mutable(one("resources"))
		if g.Tags == nil {
			g.Tags = model.Tags{}
		}
		for _, tag := range f["tags"] {
			kv := shorthand(tag)
			g.Tags[kv["Key"]] = kv["Value"]
		}
	case "update-security-group-rule-descriptions-ingress", "update-security-group-rule-descriptions-egress":
		egress := strings.HasSuffix(verb, "egress")
		g := w.mutable(one("group-id"))
		for _, item := range f["security-group-rule-descriptions"] {
			kv := shorthand(item)
			i := g.FindRule(egress, kv["SecurityGroupRuleId"])
			if i < 0 {
				w.t.Fatalf("%s: no rule %s", verb, kv["SecurityGroupRuleId"])
			}
			g.Rules(egress)[i].Description = kv["Description"]
		}
	default:
		w.t.Fatalf("the interpreter does not know %s", verb)
	}
	return ""
}

func (w *world) findGroup(id string) *model.Group {
	for _, g := range w.s.Groups {
		if g.ID == id {
			return g
		}
	}
	return nil
}

// mutable replaces group id by a copy that the command may change (snapshots share objects).
func (w *world) mutable(id string) *model.Group {
	w.t.Helper()
	w.s.Groups = slices.Clone(w.s.Groups)
	for i, g := range w.s.Groups {
		if g.ID == id {
			w.s.Groups[i] = g.Clone()
			return w.s.Groups[i]
		}
	}
	w.t.Fatalf("InvalidGroup.NotFound %s", id)
	return nil
}

// shorthand reads "K=V,K=V" (no nesting).
func shorthand(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

// parsePermission reads one IpPermission in the CLI's shorthand, as fixes write it.
func parsePermission(t testing.TB, s string, egress bool) model.Rule {
	r := model.Rule{Egress: egress, FromPort: -1, ToPort: -1}
	head, list, ok := strings.Cut(s, "=[{")
	if !ok || !strings.HasSuffix(list, "}]") {
		t.Fatalf("permission %q: no peer list", s)
	}
	i := strings.LastIndex(head, ",")
	kind := head[i+1:]
	for k, v := range shorthand(head[:i]) {
		switch k {
		case "IpProtocol":
			p, err := model.NormalizeProtocol(v)
			if err != nil {
				t.Fatal(err)
			}
			r.Protocol = p
		case "FromPort", "ToPort":
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("permission %q: %v", s, err)
			}
			if k == "FromPort" {
				r.FromPort = int32(n)
			} else {
				r.ToPort = int32(n)
			}
		default:
			t.Fatalf("permission %q: unknown key %s", s, k)
		}
	}
	peer := shorthand(strings.TrimSuffix(list, "}]"))
	r.Description = peer["Description"]
	switch kind {
	case "IpRanges", "Ipv6Ranges":
		c, err := model.ParseCIDR(peer["CidrIp"]+peer["CidrIpv6"], kind == "Ipv6Ranges", kind)
		if err != nil {
			t.Fatal(err)
		}
		r.Peer = model.Peer{CIDR: c}
	case "PrefixListIds":
		r.Peer = model.Peer{PrefixListID: peer["PrefixListId"]}
	case "UserIdGroupPairs":
		r.Peer = model.Peer{GroupID: peer["GroupId"]}
	default:
		t.Fatalf("permission %q: unknown peer kind %s", s, kind)
	}
	return r
}
