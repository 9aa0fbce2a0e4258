package flows

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// The network the tests read records of: a web interface carrying two groups (sg-web, then
// sg-extra: the stale-rules sample kept only the last), a database interface, and a group
// attached to nothing.
//
//	eni-web 10.0.1.10 (subnet-web)  sg-web:   in  sgr-ssh-office tcp 22 from 192.0.2.0/24
//	                                          in  sgr-ssh-vpn    tcp 22 from 10.8.0.0/24
//	                                          in  sgr-https      tcp 443 from 0.0.0.0/0
//	                                          out sgr-web-db     tcp 5432 to sg-db
//	                                sg-extra: in  sgr-dns        udp 53 from 0.0.0.0/0
//	eni-db  10.0.2.20 (subnet-db)   sg-db:    in  sgr-db-web     tcp 5432 from sg-web
//	                                          in  sgr-db-mysql   tcp 3306 from sg-web
//	                                          out sgr-db-out     all to 0.0.0.0/0
//	                                sg-lonely: in sgr-lonely     tcp 80 from 0.0.0.0/0 (no interface)
func fixture() netmap.Snapshot {
	pfx := func(s string) model.Peer { return model.Peer{CIDR: netip.MustParsePrefix(s)} }
	tcp := func(id string, port int32, peer model.Peer) model.Rule {
		return model.Rule{ID: id, Protocol: "tcp", FromPort: port, ToPort: port, Peer: peer}
	}
	out := func(r model.Rule) model.Rule { r.Egress = true; return r }
	vpc := &model.VPC{ID: "vpc-1", OwnerID: "111122223333", CIDR: netip.MustParsePrefix("10.0.0.0/16")}
	acl := &model.NACL{ID: "acl-1", VpcID: "vpc-1", Entries: []model.NACLEntry{
		{RuleNumber: 100, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 100, Egress: true, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: model.NACLDenyAllIPv4, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: model.NACLDenyAllIPv4, Egress: true, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
	}, Assocs: []model.NACLAssoc{{ID: "aclassoc-1", SubnetID: "subnet-web"}, {ID: "aclassoc-2", SubnetID: "subnet-db"}}}
	return netmap.Snapshot{
		VPCs: []*model.VPC{vpc},
		Subnets: []*model.Subnet{
			{ID: "subnet-web", VpcID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.1.0/24")},
			{ID: "subnet-db", VpcID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.2.0/24")},
		},
		Groups: []*model.Group{
			{ID: "sg-web", VpcID: "vpc-1", Ingress: []model.Rule{
				tcp("sgr-ssh-office", 22, pfx("192.0.2.0/24")),
				tcp("sgr-ssh-vpn", 22, pfx("10.8.0.0/24")),
				tcp("sgr-https", 443, pfx("0.0.0.0/0")),
			}, Egress: []model.Rule{out(tcp("sgr-web-db", 5432, model.Peer{GroupID: "sg-db"}))}},
			{ID: "sg-extra", VpcID: "vpc-1", Ingress: []model.Rule{
				{ID: "sgr-dns", Protocol: "udp", FromPort: 53, ToPort: 53, Peer: pfx("0.0.0.0/0")},
			}},
			{ID: "sg-db", VpcID: "vpc-1", Ingress: []model.Rule{
				tcp("sgr-db-web", 5432, model.Peer{GroupID: "sg-web"}),
				tcp("sgr-db-mysql", 3306, model.Peer{GroupID: "sg-web"}),
			}, Egress: []model.Rule{{ID: "sgr-db-out", Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1, Peer: pfx("0.0.0.0/0")}}},
			{ID: "sg-lonely", VpcID: "vpc-1", Ingress: []model.Rule{tcp("sgr-lonely", 80, pfx("0.0.0.0/0"))}},
		},
		ENIs: []*model.NetworkInterface{
			{ID: "eni-web", SubnetID: "subnet-web", VpcID: "vpc-1", Groups: []string{"sg-web", "sg-extra"}, PrivateIP: netip.MustParseAddr("10.0.1.10")},
			{ID: "eni-db", SubnetID: "subnet-db", VpcID: "vpc-1", Groups: []string{"sg-db"}, PrivateIP: netip.MustParseAddr("10.0.2.20")},
		},
		NACLs: []*model.NACL{acl},
	}
}

// v2 is the default format's header.
const v2 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"

// records parses a file body (header line first), failing the test on error.
func records(t testing.TB, lines ...string) []Record {
	t.Helper()
	var out []Record
	if err := Read(strings.NewReader(strings.Join(lines, "\n")+"\n"), func(r Record) { out = append(out, r) }); err != nil {
		t.Fatal(err)
	}
	return out
}

func data(t testing.TB, recs []Record) *Data {
	t.Helper()
	tl, err := Single(fixture())
	if err != nil {
		t.Fatal(err)
	}
	return &Data{Records: recs, Timeline: tl}
}
