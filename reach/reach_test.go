package reach

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// lab is a VPC with a web subnet (default-style ACL) and a db subnet whose ACL admits 5432 from
// the web subnet and lets replies out only to ports 32768-65535, plus a second VPC with the
// same CIDR.
type lab struct {
	s                   netmap.Snapshot
	web, db, other      *model.NetworkInterface
	webG, dbG           *model.Group
	webACL, dbACL       *model.NACL
	webSubnet, dbSubnet *model.Subnet
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func newLab() *lab {
	l := &lab{}
	vpc := &model.VPC{ID: "vpc-00000001", CIDR: pfx("10.0.0.0/16"), IPv6CIDR: pfx("2001:db8:1::/56")}
	vpc2 := &model.VPC{ID: "vpc-00000002", CIDR: pfx("10.0.0.0/16")}
	l.webSubnet = &model.Subnet{ID: "subnet-0000000a", VpcID: vpc.ID, CIDR: pfx("10.0.1.0/24"), IPv6CIDR: pfx("2001:db8:1:1::/64")}
	l.dbSubnet = &model.Subnet{ID: "subnet-0000000b", VpcID: vpc.ID, CIDR: pfx("10.0.2.0/24")}
	otherSubnet := &model.Subnet{ID: "subnet-0000000c", VpcID: vpc2.ID, CIDR: pfx("10.0.1.0/24")}
	allowAll := func(egress bool, n int, cidr string) model.NACLEntry {
		return model.NACLEntry{RuleNumber: n, Egress: egress, Protocol: "-1", Allow: true, CIDR: pfx(cidr)}
	}
	deny := func(egress bool) []model.NACLEntry {
		return []model.NACLEntry{{RuleNumber: 32767, Egress: egress, Protocol: "-1", CIDR: pfx("0.0.0.0/0")},
			{RuleNumber: 32768, Egress: egress, Protocol: "-1", CIDR: pfx("::/0")}}
	}
	l.webACL = &model.NACL{ID: "acl-0000000a", VpcID: vpc.ID, Assocs: []model.NACLAssoc{{ID: "aclassoc-1", SubnetID: l.webSubnet.ID}},
		Entries: slices.Concat([]model.NACLEntry{allowAll(false, 100, "0.0.0.0/0"), allowAll(true, 100, "0.0.0.0/0"),
			allowAll(false, 101, "::/0"), allowAll(true, 101, "::/0")}, deny(false), deny(true))}
	l.dbACL = &model.NACL{ID: "acl-0000000b", VpcID: vpc.ID, Assocs: []model.NACLAssoc{{ID: "aclassoc-2", SubnetID: l.dbSubnet.ID}},
		Entries: slices.Concat([]model.NACLEntry{
			{RuleNumber: 100, Protocol: "6", HasPorts: true, FromPort: 5432, ToPort: 5432, Allow: true, CIDR: pfx("10.0.1.0/24")},
			{RuleNumber: 100, Egress: true, Protocol: "6", HasPorts: true, FromPort: 32768, ToPort: 65535, Allow: true, CIDR: pfx("10.0.1.0/24")},
		}, deny(false), deny(true))}
	otherACL := &model.NACL{ID: "acl-0000000c", VpcID: vpc2.ID, Assocs: []model.NACLAssoc{{ID: "aclassoc-3", SubnetID: otherSubnet.ID}},
		Entries: slices.Concat([]model.NACLEntry{allowAll(false, 100, "0.0.0.0/0"), allowAll(true, 100, "0.0.0.0/0")}, deny(false), deny(true))}
	allOut := []model.Rule{{ID: "sgr-out1", Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1, Peer: model.Peer{CIDR: pfx("0.0.0.0/0")}},
		{ID: "sgr-out2", Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1, Peer: model.Peer{CIDR: pfx("::/0")}}}
	l.webG = &model.Group{ID: "sg-0000000a", VpcID: vpc.ID, Egress: allOut, Ingress: []model.Rule{
		{ID: "sgr-web443", Protocol: "tcp", FromPort: 443, ToPort: 443, Peer: model.Peer{CIDR: pfx("0.0.0.0/0")}},
		{ID: "sgr-web443v6", Protocol: "tcp", FromPort: 443, ToPort: 443, Peer: model.Peer{CIDR: pfx("::/0")}}}}
	l.dbG = &model.Group{ID: "sg-0000000b", VpcID: vpc.ID, Ingress: []model.Rule{
		{ID: "sgr-db5432", Protocol: "tcp", FromPort: 5432, ToPort: 5432, Peer: model.Peer{GroupID: l.webG.ID}}}}
	otherG := &model.Group{ID: "sg-0000000c", VpcID: vpc2.ID, Egress: allOut}
	l.web = &model.NetworkInterface{ID: "eni-0000000a", VpcID: vpc.ID, SubnetID: l.webSubnet.ID, PrivateIP: netip.MustParseAddr("10.0.1.10"),
		IPv6: []netip.Addr{netip.MustParseAddr("2001:db8:1:1::10")}, Groups: []string{l.webG.ID},
		Attachment: &model.Attachment{ID: "eni-attach-1", InstanceID: "i-0000000a"}}
	l.db = &model.NetworkInterface{ID: "eni-0000000b", VpcID: vpc.ID, SubnetID: l.dbSubnet.ID, PrivateIP: netip.MustParseAddr("10.0.2.10"),
		Groups: []string{l.dbG.ID}}
	l.other = &model.NetworkInterface{ID: "eni-0000000c", VpcID: vpc2.ID, SubnetID: otherSubnet.ID, PrivateIP: netip.MustParseAddr("10.0.1.11"),
		Groups: []string{otherG.ID}}
	l.s = netmap.Snapshot{VPCs: []*model.VPC{vpc, vpc2}, Subnets: []*model.Subnet{l.webSubnet, l.dbSubnet, otherSubnet},
		ENIs: []*model.NetworkInterface{l.web, l.db, l.other}, Groups: []*model.Group{l.webG, l.dbG, otherG},
		NACLs: []*model.NACL{l.webACL, l.dbACL, otherACL}}
	return l
}

func (l *lab) analyser(t *testing.T) *Analyser {
	t.Helper()
	a, err := New(l.s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func codes(bs []Blocker) []string {
	var out []string
	for _, b := range bs {
		c := b.Code + "/" + b.Direction
		if b.ReturnPath {
			c += "/return"
		}
		out = append(out, c)
	}
	return out
}

func TestPath(t *testing.T) {
	l := newLab()
	a := l.analyser(t)
	tests := []struct {
		name     string
		q        Question
		blockers []string
		fix      []string
	}{
		{"web to db, replies to a Linux port", Question{From: "eni-0000000a", To: "eni-0000000b", Protocol: "tcp", Port: 5432}, nil,
			[]string{"aws ec2 create-network-acl-entry --network-acl-id acl-0000000b --ingress --rule-number 99 --protocol 6 --port-range From=5432,To=5432 --cidr-block 10.0.1.10/32 --rule-action deny"}},
		{"web to db, replies to a low port", Question{From: "i-0000000a", To: "10.0.2.10", Protocol: "tcp", Port: 5432, SourcePort: 1500},
			[]string{"SUBNET_ACL_RESTRICTION/egress/return"},
			[]string{"aws ec2 create-network-acl-entry --network-acl-id acl-0000000b --egress --rule-number 32766 --protocol 6 --port-range From=1024,To=65535 --cidr-block 10.0.1.10/32 --rule-action allow"}},
		{"internet to db: ACL and groups", Question{From: "198.51.100.7", To: "eni-0000000b", Protocol: "tcp", Port: 5432},
			[]string{"SUBNET_ACL_RESTRICTION/ingress", "ENI_SG_RULES_MISMATCH/ingress", "SUBNET_ACL_RESTRICTION/egress/return"},
			[]string{"aws ec2 create-network-acl-entry --network-acl-id acl-0000000b --ingress --rule-number 32766 --protocol 6 --port-range From=5432,To=5432 --cidr-block 198.51.100.7/32 --rule-action allow",
				"aws ec2 authorize-security-group-ingress --group-id sg-0000000b --ip-permissions 'IpProtocol=tcp,FromPort=5432,ToPort=5432,IpRanges=[{CidrIp=198.51.100.7/32}]'",
				"aws ec2 create-network-acl-entry --network-acl-id acl-0000000b --egress --rule-number 32766 --protocol 6 --port-range From=1024,To=65535 --cidr-block 198.51.100.7/32 --rule-action allow"}},
		{"db out to the internet: no egress rule", Question{From: "eni-0000000b", To: "203.0.113.5", Protocol: "udp", Port: 53},
			[]string{"ENI_SG_RULES_MISMATCH/egress", "SUBNET_ACL_RESTRICTION/egress", "SUBNET_ACL_RESTRICTION/ingress/return"},
			[]string{"aws ec2 authorize-security-group-egress --group-id sg-0000000b --ip-permissions 'IpProtocol=udp,FromPort=53,ToPort=53,IpRanges=[{CidrIp=203.0.113.5/32}]'",
				"aws ec2 create-network-acl-entry --network-acl-id acl-0000000b --egress --rule-number 32766 --protocol 17 --port-range From=53,To=53 --cidr-block 203.0.113.5/32 --rule-action allow",
				"aws ec2 create-network-acl-entry --network-acl-id acl-0000000b --ingress --rule-number 32766 --protocol 17 --port-range From=1024,To=65535 --cidr-block 203.0.113.5/32 --rule-action allow"}},
		{"internet to web over IPv6", Question{From: "2001:db8:ffff::1", To: "i-0000000a", Protocol: "tcp", Port: 443}, nil,
			[]string{"aws ec2 create-network-acl-entry --network-acl-id acl-0000000a --ingress --rule-number 99 --protocol 6 --port-range From=443,To=443 --ipv6-cidr-block 2001:db8:ffff::1/128 --rule-action deny"}},
		{"icmp from the internet to web", Question{From: "198.51.100.7", To: "eni-0000000a", Protocol: "icmp", ICMPType: 8},
			[]string{"ENI_SG_RULES_MISMATCH/ingress"},
			[]string{"aws ec2 authorize-security-group-ingress --group-id sg-0000000a --ip-permissions 'IpProtocol=icmp,FromPort=8,ToPort=0,IpRanges=[{CidrIp=198.51.100.7/32}]'"}},
		{"another VPC with the same CIDR", Question{From: "eni-0000000c", To: "eni-0000000a", Protocol: "tcp", Port: 443},
			[]string{"CANNOT_ROUTE/"}, nil},
		{"any port", Question{From: "eni-0000000a", To: "eni-0000000b", Protocol: "tcp", AnyPort: true}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans, err := a.Path(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes(ans.Blockers); !slices.Equal(got, tt.blockers) {
				t.Errorf("blockers %q, want %q", got, tt.blockers)
			}
			if ans.Reachable != (len(tt.blockers) == 0) {
				t.Errorf("reachable %v with blockers %q", ans.Reachable, codes(ans.Blockers))
			}
			if tt.fix != nil && !slices.Equal(ans.Fix, tt.fix) {
				t.Errorf("fix\n got %q\nwant %q", ans.Fix, tt.fix)
			}
			var b bytes.Buffer
			ans.WriteText(&b)
			if !strings.Contains(b.String(), map[bool]string{true: "REACHABLE", false: "NOT REACHABLE"}[ans.Reachable]) {
				t.Errorf("text:\n%s", b.String())
			}
		})
	}
	ans, _ := a.Path(Question{From: "eni-0000000a", To: "eni-0000000b", Protocol: "tcp", AnyPort: true})
	if ans.Port != 5432 {
		t.Errorf("any port chose %d, want 5432", ans.Port)
	}
	ans, _ = a.Path(Question{From: "eni-0000000c", To: "eni-0000000a", Protocol: "tcp", Port: 443})
	if !strings.Contains(ans.FixNote, "different VPCs") {
		t.Errorf("cross-VPC note %q", ans.FixNote)
	}
}

// TestPathFixesWithoutACL: inside one subnet no ACL is crossed, so breaking a path revokes the
// rules that admit it; and an ACL with no free number below its deny says so.
func TestPathFixesWithoutACL(t *testing.T) {
	l := newLab()
	peer := &model.NetworkInterface{ID: "eni-0000000d", VpcID: l.web.VpcID, SubnetID: l.webSubnet.ID, PrivateIP: netip.MustParseAddr("10.0.1.20"), Groups: []string{l.webG.ID}}
	l.s.ENIs = append(l.s.ENIs, peer)
	a := l.analyser(t)
	ans, err := a.Path(Question{From: "10.0.1.20", To: "eni-0000000a", Protocol: "tcp", Port: 443})
	if err != nil || !ans.Reachable {
		t.Fatalf("%v %+v", err, ans)
	}
	if want := []string{"aws ec2 revoke-security-group-ingress --group-id sg-0000000a --security-group-rule-ids sgr-web443"}; !slices.Equal(ans.Fix, want) {
		t.Errorf("fix %q", ans.Fix)
	}

	l.dbACL.Entries = append([]model.NACLEntry{{RuleNumber: 1, Protocol: "-1", CIDR: pfx("0.0.0.0/0")}}, l.dbACL.Entries...)
	a = l.analyser(t)
	ans, _ = a.Path(Question{From: "eni-0000000a", To: "eni-0000000b", Protocol: "tcp", Port: 5432})
	if ans.Reachable || len(ans.Fix) != 0 || !strings.Contains(ans.FixNote, "no free rule number below 1") {
		t.Errorf("deny at rule 1: %+v", ans)
	}
}

func TestPathBadQuestions(t *testing.T) {
	a := newLab().analyser(t)
	for _, tt := range []struct {
		q    Question
		want string
	}{
		{Question{From: "eni-0000000f", To: "eni-0000000b", Protocol: "tcp"}, "no network interface eni-0000000f"},
		{Question{From: "i-0000000f", To: "eni-0000000b", Protocol: "tcp"}, "no instance i-0000000f"},
		{Question{From: "web", To: "eni-0000000b", Protocol: "tcp"}, "not an interface ID"},
		{Question{From: "eni-0000000a", To: "eni-0000000b", Protocol: "-1"}, "protocol"},
		{Question{From: "eni-0000000b", To: "2001:db8::1", Protocol: "tcp"}, "has no IPv6 address"},
		{Question{From: "10.0.1.11", To: "eni-0000000b", Protocol: "tcp"}, ""}, // an outside address in this VPC's view: fine
		{Question{From: "10.0.1.10", To: "2001:db8::1", Protocol: "tcp"}, "different address families"},
	} {
		_, err := a.Path(tt.q)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: %v", tt.q, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%+v: error %v, want %q", tt.q, err, tt.want)
		}
	}
}

func TestAccessAndExposure(t *testing.T) {
	l := newLab()
	a := l.analyser(t)
	acc, err := a.Access("i-0000000a", false)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	acc.WriteText(&b)
	if want := "can reach i-0000000a eni-0000000a:\n  tcp 443                  0.0.0.0/0, ::/0\n"; b.String() != want {
		t.Errorf("ingress of web:\n%s\nwant\n%s", b.String(), want)
	}
	acc, err = a.Access("eni-0000000b", false)
	if err != nil || len(acc.Traffic) != 1 || !slices.Equal(acc.Traffic[0].Addresses, []string{"10.0.1.10/32"}) || acc.Traffic[0].Ports != "5432" {
		t.Errorf("ingress of db: %v %+v", err, acc)
	}
	exp, err := a.Exposure()
	if err != nil {
		t.Fatal(err)
	}
	if len(exp) != 1 || exp[0].Interface != "eni-0000000a" {
		t.Fatalf("exposure %+v", exp)
	}
	b.Reset()
	exp[0].WriteText(&b)
	if !strings.Contains(b.String(), "tcp 443                  0.0.0.0/0 except 10.0.0.0/16, ::/0 except 2001:db8:1::/56") {
		t.Errorf("exposure text:\n%s", b.String())
	}
	if _, err := a.Access("eni-0000000f", true); err == nil {
		t.Error("no error for an unknown interface")
	}
}

func TestInsights(t *testing.T) {
	a := newLab().analyser(t)
	ans, _ := a.Path(Question{From: "eni-0000000a", To: "eni-0000000b", Protocol: "tcp", Port: 5432})
	found, expl, fwd, ret := a.Insights(ans)
	if !found || len(expl) != 0 || len(fwd) != 4 || len(ret) != 4 {
		t.Fatalf("found %v, %d explanations, %d/%d hops", found, len(expl), len(fwd), len(ret))
	}
	if h := fwd[3]; h.Component != "eni-0000000b" || h.SGRule == nil || h.SGRule.GroupID != "sg-0000000b" || h.SGRule.FromPort != 5432 {
		t.Errorf("destination hop %+v %+v", h, h.SGRule)
	}
	if h := fwd[2]; h.Component != "acl-0000000b" || h.ACLRule == nil || h.ACLRule.Number != 100 || h.ACLRule.Action != "allow" || h.ACLRule.CIDR != "10.0.1.0/24" {
		t.Errorf("destination ACL hop %+v %+v", h, h.ACLRule)
	}
	ans, _ = a.Path(Question{From: "198.51.100.7", To: "eni-0000000b", Protocol: "tcp", Port: 5432})
	found, expl, _, ret = a.Insights(ans)
	if found || len(expl) != 3 || expl[1].Code != CodeSGRulesMismatch || !slices.Equal(expl[1].SecurityGroups, []string{"sg-0000000b"}) ||
		expl[0].ACLRule == nil || expl[0].ACLRule.Number != 32767 || len(ret) != 0 {
		t.Errorf("blocked: found %v %+v", found, expl)
	}
}

// TestPathIPv6Only: an interface of an IPv6-only subnet has no IPv4 address, so a question
// between interfaces with one such end is asked over IPv6, by the first IPv6 address of
// each; an IPv4 question about it is refused.
func TestPathIPv6Only(t *testing.T) {
	l := newLab()
	native := &model.Subnet{ID: "subnet-0000000d", VpcID: l.webSubnet.VpcID, IPv6Native: true, IPv6CIDR: pfx("2001:db8:1:6::/64")}
	l.webACL.Assocs = append(l.webACL.Assocs, model.NACLAssoc{ID: "aclassoc-4", SubnetID: native.ID})
	six := &model.NetworkInterface{ID: "eni-0000000d", VpcID: native.VpcID, SubnetID: native.ID,
		IPv6: []netip.Addr{netip.MustParseAddr("2001:db8:1:6::4")}, Groups: []string{l.webG.ID}}
	l.s.Subnets = append(l.s.Subnets, native)
	l.s.ENIs = append(l.s.ENIs, six)
	a := l.analyser(t)
	for _, q := range []Question{
		{From: "eni-0000000a", To: "eni-0000000d", Protocol: "tcp", Port: 443},
		{From: "eni-0000000d", To: "eni-0000000a", Protocol: "tcp", Port: 443},
	} {
		ans, err := a.Path(q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		if !ans.From.Address.Is6() || !ans.To.Address.Is6() || !ans.Reachable {
			t.Errorf("%+v: %s → %s, reachable %v, blockers %q", q, ans.From.Address, ans.To.Address, ans.Reachable, codes(ans.Blockers))
		}
	}
	if _, err := a.Path(Question{From: "eni-0000000d", To: "10.0.1.10", Protocol: "tcp", Port: 443}); err == nil || !strings.Contains(err.Error(), "no IPv4 address") {
		t.Errorf("an IPv4 question from an IPv6-only interface: %v", err)
	}
}

// TestExposureFix: for a path from the internet the fix revokes the ingress rules the path
// names — the whole exposure, not the one address asked from — and a blocked path or one
// between interfaces has none.
func TestExposureFix(t *testing.T) {
	l := newLab()
	a := l.analyser(t)
	ans, err := a.Path(Question{From: "198.51.100.7", To: l.web.ID, Protocol: "tcp", Port: 443})
	if err != nil || !ans.Reachable {
		t.Fatalf("path: %v %+v", err, ans)
	}
	cmds, _ := a.ExposureFix(ans)
	if want := []string{"aws ec2 revoke-security-group-ingress --group-id sg-0000000a --security-group-rule-ids sgr-web443"}; !slices.Equal(cmds, want) {
		t.Fatalf("fix %q, want %q", cmds, want)
	}
	for _, q := range []Question{{From: "198.51.100.7", To: l.web.ID, Protocol: "tcp", Port: 22}, {From: l.web.ID, To: l.db.ID, Protocol: "tcp", Port: 5432}} {
		ans, err := a.Path(q)
		if err != nil {
			t.Fatal(err)
		}
		if cmds, note := a.ExposureFix(ans); cmds != nil || note == "" {
			t.Fatalf("%+v: fix %q (%s)", q, cmds, note)
		}
	}
}
