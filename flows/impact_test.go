package flows

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
)

// The flows of a period: ssh from the office, https (seen twice), web → db (seen on both
// interfaces), a reply, and a rejected attempt.
func impactData(t *testing.T) *Data {
	return data(t, records(t, custom,
		"eni-web ingress 192.0.2.5 10.0.1.10 50000 22 6 2 3 180 100 110 ACCEPT OK",
		"eni-web ingress 198.51.100.9 10.0.1.10 50001 443 6 2 9 900 100 110 ACCEPT OK",
		"eni-web ingress 198.51.100.9 10.0.1.10 50001 443 6 0 5 500 160 170 ACCEPT OK",
		"eni-web egress 10.0.1.10 10.0.2.20 40000 5432 6 2 4 300 100 110 ACCEPT OK",
		"eni-db ingress 10.0.1.10 10.0.2.20 40000 5432 6 2 4 300 100 110 ACCEPT OK",
		"eni-db egress 10.0.2.20 10.0.1.10 5432 40000 6 18 4 300 100 110 ACCEPT OK",
		"eni-web ingress 203.0.113.66 10.0.1.10 60000 3389 6 2 3 180 100 110 REJECT OK"))
}

func TestImpact(t *testing.T) {
	tests := []struct {
		name string
		c    Change
		want []Refused
	}{
		{"revoke the office ssh rule", Change{Revoke: []string{"sgr-ssh-office"}},
			[]Refused{{Src: "192.0.2.5:50000", Dst: "10.0.1.10:22", Proto: 6, Records: 1, Packets: 3, Bytes: 180, First: 100, Last: 110, At: policy.DestIngress.String()}}},
		{"revoke the unused vpn rule", Change{Revoke: []string{"sgr-ssh-vpn"}}, []Refused{}},
		{"revoke https: both windows of the flow", Change{Revoke: []string{"sgr-https"}},
			[]Refused{{Src: "198.51.100.9:50001", Dst: "10.0.1.10:443", Proto: 6, Records: 2, Packets: 14, Bytes: 1400, First: 100, Last: 170, At: policy.DestIngress.String()}}},
		{"revoke db's ingress: one flow, although two interfaces logged it", Change{Revoke: []string{"sgr-db-web"}},
			[]Refused{{Src: "10.0.1.10:40000", Dst: "10.0.2.20:5432", Proto: 6, Records: 2, Packets: 8, Bytes: 600, First: 100, Last: 110, At: policy.DestIngress.String()}}},
		{"revoke db's egress: replies are not its", Change{Revoke: []string{"sgr-db-out"}}, []Refused{}},
		{"deny web's NACL ingress entry", Change{DenyNACL: []string{"acl-1/ingress/100"}},
			[]Refused{
				{Src: "198.51.100.9:50001", Dst: "10.0.1.10:443", Proto: 6, Records: 2, Packets: 14, Bytes: 1400, First: 100, Last: 170, At: policy.DestNACL.String()},
				{Src: "10.0.1.10:40000", Dst: "10.0.2.20:5432", Proto: 6, Records: 2, Packets: 8, Bytes: 600, First: 100, Last: 110, At: policy.DestNACL.String()},
				{Src: "192.0.2.5:50000", Dst: "10.0.1.10:22", Proto: 6, Records: 1, Packets: 3, Bytes: 180, First: 100, Last: 110, At: policy.DestNACL.String()},
			}},
		{"delete the egress entry", Change{DeleteNACL: []string{"acl-1/egress/100"}},
			[]Refused{{Src: "10.0.1.10:40000", Dst: "10.0.2.20:5432", Proto: 6, Records: 2, Packets: 8, Bytes: 600, First: 100, Last: 110, At: policy.SourceNACL.String()}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := impactData(t).Impact(Period{}, tt.c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("refused (-want +got):\n%s", diff)
			}
		})
	}
}

// TestImpactRefusesUnknownChanges: a change that names nothing would read as harmless.
func TestImpactRefusesUnknownChanges(t *testing.T) {
	for _, c := range []Change{
		{Revoke: []string{"sgr-nope"}},
		{DeleteNACL: []string{"acl-9/ingress/100"}},
		{DeleteNACL: []string{"acl-1/ingress/200"}},
		{DenyNACL: []string{"acl-1/sideways/100"}},
		{DeleteNACL: []string{"acl-1/ingress/32767"}},
	} {
		if _, err := impactData(t).Impact(Period{}, c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	d := impactData(t)
	s := d.Timeline.Current().Snapshot
	if _, err := d.Impact(Period{}, Change{Revoke: []string{"sgr-ssh-office"}, DenyNACL: []string{"acl-1/ingress/100"}}); err != nil {
		t.Fatal(err)
	}
	if s.Groups[0].FindRule(false, "sgr-ssh-office") < 0 || !s.NACLs[0].Entries[0].Allow {
		t.Error("the proposed change leaked into the current network")
	}
}

func TestTop(t *testing.T) {
	recs := impactData(t).Select(Period{})
	tests := []struct {
		by   string
		n    int
		want []Talker
	}{
		{"addr", 2, []Talker{{Key: "198.51.100.9", Records: 2, Packets: 14, Bytes: 1400}, {Key: "10.0.1.10", Records: 2, Packets: 8, Bytes: 600}}},
		{"port", 1, []Talker{{Key: "tcp/443", Records: 2, Packets: 14, Bytes: 1400}}},
		{"eni", 0, []Talker{{Key: "eni-web", Records: 5, Packets: 24, Bytes: 2060}, {Key: "eni-db", Records: 2, Packets: 8, Bytes: 600}}},
		{"pair", 1, []Talker{{Key: "198.51.100.9 > 10.0.1.10", Records: 2, Packets: 14, Bytes: 1400}}},
	}
	for _, tt := range tests {
		got, err := Top(recs, tt.by, tt.n)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("top by %s (-want +got):\n%s", tt.by, diff)
		}
	}
	if _, err := Top(recs, "colour", 1); err == nil {
		t.Error("top by an unknown key: no error")
	}
}

func TestRejected(t *testing.T) {
	recs := records(t, custom,
		"eni-web ingress 203.0.113.7 10.0.1.10 60000 8080 6 2 40 2400 100 110 REJECT OK",
		"eni-web ingress 203.0.113.66 10.0.1.10 60000 3389 6 2 3 180 100 110 REJECT OK",
		"eni-web ingress 203.0.113.66 10.0.1.10 60001 3389 6 2 2 120 200 210 REJECT OK",
		"eni-web ingress 203.0.113.8 10.0.1.10 60000 22 6 2 1 60 100 110 REJECT OK",
		"eni-web egress 10.0.1.10 203.0.113.8 22 60000 6 4 1 40 100 110 REJECT OK",
		"eni-web ingress 203.0.113.9 10.0.1.10 60000 22 17 0 9 60 100 110 REJECT OK",
		"eni-web ingress 192.0.2.5 10.0.1.10 50000 22 6 2 3 180 100 110 ACCEPT OK")
	want := []Attempts{
		{Port: "tcp/3389", Source: "203.0.113.66", Interface: "eni-web", Admin: true, Records: 2, Packets: 5, First: 100, Last: 210},
		{Port: "tcp/8080", Source: "203.0.113.7", Interface: "eni-web", Records: 1, Packets: 40, First: 100, Last: 110},
		{Port: "udp/22", Source: "203.0.113.9", Interface: "eni-web", Records: 1, Packets: 9, First: 100, Last: 110},
	}
	if diff := cmp.Diff(want, Rejected(recs, DefaultAdminPorts, 2)); diff != "" {
		t.Errorf("rejected, threshold 2 (-want +got):\n%s", diff)
	}
	if got := Rejected(recs, []uint16{8080}, 1); len(got) != 4 || got[0].Port != "tcp/8080" || !got[0].Admin {
		t.Errorf("configured admin ports: %+v", got)
	}
}

// TestRewoundRulesAndImpact: a rule authorized at 1000, used, and revoked at 2000 is reported
// used (and when it went) though the current network no longer has it; sgr-https was
// tcp 8443 until a modify at 3000, so a flow to 8443 before then is its use, and revoking it
// would have refused that flow, which today's network alone would call "already refused".
func TestRewoundRulesAndImpact(t *testing.T) {
	old := model.Rule{ID: "sgr-ssh-old", Protocol: "tcp", FromPort: 22, ToPort: 22, Peer: model.Peer{CIDR: mustPrefix("203.0.113.0/24")}}
	https := fixture().Groups[0].Ingress[2]
	was := https
	was.FromPort, was.ToPort = 8443, 8443
	tl, err := Rewind(fixture(), []RuleChange{
		{Time: time.Unix(1000, 0), GroupID: "sg-web", Added: true, Rule: old},
		{Time: time.Unix(2000, 0), GroupID: "sg-web", Added: false, Rule: old},
		{Time: time.Unix(3000, 0), GroupID: "sg-web", Added: false, Rule: was},
		{Time: time.Unix(3000, 0), GroupID: "sg-web", Added: true, Rule: https},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := &Data{Timeline: tl, Records: records(t, custom,
		"eni-web ingress 203.0.113.5 10.0.1.10 50000 22 6 2 3 180 1500 1510 ACCEPT OK",
		"eni-web ingress 198.51.100.9 10.0.1.10 50001 8443 6 2 4 240 2500 2510 ACCEPT OK",
		"eni-web ingress 198.51.100.9 10.0.1.10 50002 443 6 2 5 300 3500 3510 ACCEPT OK")}
	uses := byID(d.Rules(Period{}))
	want := map[string]RuleUse{
		"sgr-ssh-old": {GroupID: "sg-web", RuleID: "sgr-ssh-old", Rule: "tcp 22 from 203.0.113.0/24", Status: "used",
			Flows: 1, Packets: 3, Bytes: 180, LastUsed: 1510, Removed: 2000},
		"sgr-https": {GroupID: "sg-web", RuleID: "sgr-https", Rule: "tcp 443 from 0.0.0.0/0", Status: "used",
			Flows: 2, Packets: 9, Bytes: 540, LastUsed: 3510},
	}
	got := map[string]RuleUse{"sgr-ssh-old": uses["sgr-ssh-old"], "sgr-https": uses["sgr-https"]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	// A rule gone before the period's flows began is not reported: nothing is left to revoke.
	if _, ok := byID(d.Rules(Period{Since: time.Unix(2500, 0)}))["sgr-ssh-old"]; ok {
		t.Error("sgr-ssh-old reported for a period in which it admitted nothing")
	}

	ref, err := d.Impact(Period{}, Change{Revoke: []string{"sgr-https"}})
	if err != nil {
		t.Fatal(err)
	}
	var dsts []string
	for _, r := range ref {
		dsts = append(dsts, r.Dst)
	}
	if diff := cmp.Diff([]string{"10.0.1.10:443", "10.0.1.10:8443"}, dsts); diff != "" {
		t.Errorf("impact of revoking sgr-https (-want +got):\n%s", diff)
	}
	if _, err := d.Impact(Period{}, Change{Revoke: []string{"sgr-ssh-old"}}); err == nil {
		t.Error("impact of revoking a rule the network no longer has: no error")
	}
}
