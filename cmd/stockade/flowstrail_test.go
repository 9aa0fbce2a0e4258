package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/adminapi"
	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/datadir"
	"github.com/stockade/stockade/flowlog"
	"github.com/stockade/stockade/flows"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/objstore"
	"github.com/stockade/stockade/store/bolt"
	"github.com/stockade/stockade/trail"
)

// trailRecord builds the record the server writes for one call, from its parameters and
// its XML response as ec2api answers them.
func trailRecord(t *testing.T, account, action string, at time.Time, params url.Values, response string) json.RawMessage {
	t.Helper()
	r, err := trail.Build(trail.Call{Service: trail.EC2, Action: action, Params: params, Region: "us-east-1", Time: at,
		Response: []byte(`<` + action + `Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>` + response + `</` + action + `Response>`),
		Identity: trail.Identity{Kind: trail.Root, AccountID: account, AccessKeyID: "AKIAEXAMPLE"}, SourceIP: "127.0.0.1", RequestID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	return r.JSON()
}

const ruleXML = `<item><securityGroupRuleId>%s</securityGroupRuleId><groupId>sg-web</groupId><isEgress>false</isEgress><ipProtocol>tcp</ipProtocol><fromPort>%d</fromPort><toPort>%d</toPort><cidrIpv4>%s</cidrIpv4></item>`

// TestFlowsLiveRewind: on a running server, `stockade flows` explains each record with the
// rules in force when it started, rewound over the trail's rule changes — the older ones
// from the trail's export, the last day's from the admin socket, an event in both counted
// once. sgr-ssh was authorized 30 hours ago (exported only), used, and revoked 2 hours ago
// by rule ID; sgr-https was tcp 8443 until a modify an hour ago made it 443.
func TestFlowsLiveRewind(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "stockade.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	accounts, err := auth.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := accounts.Create(ctx, "admin", true)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	authorizeSSH := trailRecord(t, acct.ID, "AuthorizeSecurityGroupIngress", ago(30*time.Hour),
		url.Values{"GroupId": {"sg-web"}, "IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {"22"},
			"IpPermissions.1.ToPort": {"22"}, "IpPermissions.1.IpRanges.1.CidrIp": {"203.0.113.0/24"}},
		"<return>true</return><securityGroupRuleSet>"+fmt.Sprintf(ruleXML, "sgr-ssh", 22, 22, "203.0.113.0/24")+"</securityGroupRuleSet>")
	authorizeHTTPS := trailRecord(t, acct.ID, "AuthorizeSecurityGroupIngress", ago(40*time.Hour),
		url.Values{"GroupId": {"sg-web"}, "IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {"8443"},
			"IpPermissions.1.ToPort": {"8443"}, "IpPermissions.1.IpRanges.1.CidrIp": {"0.0.0.0/0"}},
		"<return>true</return><securityGroupRuleSet>"+fmt.Sprintf(ruleXML, "sgr-https", 8443, 8443, "0.0.0.0/0")+"</securityGroupRuleSet>")
	revokeSSH := trailRecord(t, acct.ID, "RevokeSecurityGroupIngress", ago(2*time.Hour),
		url.Values{"GroupId": {"sg-web"}, "SecurityGroupRuleId.1": {"sgr-ssh"}},
		"<return>true</return><revokedSecurityGroupRuleSet>"+fmt.Sprintf(ruleXML, "sgr-ssh", 22, 22, "203.0.113.0/24")+"</revokedSecurityGroupRuleSet>")
	modifyHTTPS := trailRecord(t, acct.ID, "ModifySecurityGroupRules", ago(time.Hour),
		url.Values{"GroupId": {"sg-web"}, "SecurityGroupRule.1.SecurityGroupRuleId": {"sgr-https"},
			"SecurityGroupRule.1.SecurityGroupRule.IpProtocol": {"tcp"}, "SecurityGroupRule.1.SecurityGroupRule.FromPort": {"443"},
			"SecurityGroupRule.1.SecurityGroupRule.ToPort": {"443"}, "SecurityGroupRule.1.SecurityGroupRule.CidrIpv4": {"0.0.0.0/0"}},
		"<return>true</return>")
	// The export (a minute behind): the old authorizes and the revoke; the modify is not yet in it.
	if err := os.Mkdir(filepath.Join(dir, datadir.Trail), 0o700); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(filepath.Join(dir, datadir.Trail))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, f := range []struct {
		at   time.Time
		recs []json.RawMessage
	}{{ago(40 * time.Hour), []json.RawMessage{authorizeHTTPS}}, {ago(30 * time.Hour), []json.RawMessage{authorizeSSH}}, {ago(2 * time.Hour), []json.RawMessage{revokeSSH}}} {
		if _, err := trail.WriteLogFile(root, acct.ID, "us-east-1", f.at, f.recs); err != nil {
			t.Fatal(err)
		}
	}

	// The records, in a bucket of the data directory, as the agent delivers them.
	objs, err := objstore.Open(filepath.Join(dir, datadir.S3), objstore.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if err := objs.CreateBucket(acct.ID, "us-east-1", "flows"); err != nil {
		t.Fatal(err)
	}
	fl := &model.FlowLog{ID: "fl-1", ResourceID: "vpc-1", TrafficType: "ALL", DestType: "s3", Destination: "arn:aws:s3:::flows",
		Format: "${interface-id} ${flow-direction} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${tcp-flags} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"}
	web := netip.MustParseAddr("10.0.1.10")
	ifc := &flowlog.Interface{ID: "eni-web", Account: acct.ID, VPC: "vpc-1", Primary: web}
	syn := func(src string, port uint16, at time.Time, bytes uint64) flowlog.Record {
		return flowlog.Record{Iface: ifc, Dir: flowlog.Ingress, Action: flowlog.Accept, Packets: 3, Bytes: bytes, Start: at.Unix(), End: at.Unix() + 5, Flags: 2,
			Flow: flowlog.Flow{Proto: 6, Src: netip.MustParseAddr(src), Dst: web, SrcPort: 50000, DstPort: port}}
	}
	w := &flowlog.Writer{Objects: objs}
	w.Deliver(ctx, []flowlog.Log{{Def: fl, Account: acct.ID, Region: "us-east-1"}}, []flowlog.Record{
		syn("203.0.113.5", 22, ago(29*time.Hour), 180),
		syn("198.51.100.9", 8443, ago(20*time.Hour), 240),
		syn("198.51.100.9", 443, ago(30*time.Minute), 300),
	}, ago(30*time.Minute))
	if d := w.Status(fl.ID); d.Status != "SUCCESS" {
		t.Fatalf("delivery: %+v", d)
	}
	objs.Close()

	// The server's admin socket: today's network and the last day's rule changes.
	snap := liveNetwork()
	recent := []json.RawMessage{revokeSSH, modifyHTTPS}
	state := func(ctx context.Context, account, region string) (adminapi.State, error) {
		return adminapi.State{Snapshot: snap, FlowLogs: []*model.FlowLog{fl}, RuleChangeRecords: recent}, nil
	}
	ln, err := adminapi.Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: adminapi.Handler(accounts, state, nil, nil)}
	go srv.Serve(ln)
	defer srv.Close()

	var uses []flows.RuleUse
	if err := runFlows(t, &uses, "rules", "--data-dir", dir, "--region", "us-east-1", "--json"); err != nil {
		t.Fatal(err)
	}
	want := []flows.RuleUse{
		{GroupID: "sg-web", RuleID: "sgr-https", Rule: "tcp 443 from 0.0.0.0/0", Status: "used", Flows: 2, Packets: 6, Bytes: 540,
			LastUsed: ago(30*time.Minute).Unix() + 5},
		{GroupID: "sg-web", RuleID: "sgr-ssh", Rule: "tcp 22 from 203.0.113.0/24", Status: "used", Flows: 1, Packets: 3, Bytes: 180,
			LastUsed: ago(29*time.Hour).Unix() + 5, Removed: ago(2 * time.Hour).Unix()},
	}
	if d := cmp.Diff(want, uses); d != "" {
		t.Errorf("rules over the period (-want +got):\n%s", d)
	}
	var refused []flows.Refused
	if err := runFlows(t, &refused, "impact", "--revoke", "sgr-https", "--data-dir", dir, "--region", "us-east-1", "--json"); err != nil {
		t.Fatal(err)
	}
	var dsts []string
	for _, r := range refused {
		dsts = append(dsts, r.Dst)
	}
	if d := cmp.Diff([]string{"10.0.1.10:443", "10.0.1.10:8443"}, dsts); d != "" {
		t.Errorf("impact of revoking sgr-https (-want +got):\n%s", d)
	}

	// Without the trail (--trail=false) nothing is rewound, and the command says so.
	recent = nil
	out, err := runCommand(t, flowsCmd(), "rules", "--data-dir", dir, "--region", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "without its change trail") || strings.Contains(out, "sgr-ssh") {
		t.Errorf("without the trail:\n%s", out)
	}
}

// liveNetwork is today's network of TestFlowsLiveRewind: eni-web in sg-web, whose only rule
// is sgr-https, tcp 443 from anywhere.
func liveNetwork() netmap.Snapshot {
	any4 := netip.MustParsePrefix("0.0.0.0/0")
	return netmap.Snapshot{
		VPCs:    []*model.VPC{{ID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.0.0/16")}},
		Subnets: []*model.Subnet{{ID: "subnet-web", VpcID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.1.0/24")}},
		Groups: []*model.Group{{ID: "sg-web", VpcID: "vpc-1", Ingress: []model.Rule{
			{ID: "sgr-https", Protocol: "tcp", FromPort: 443, ToPort: 443, Peer: model.Peer{CIDR: any4}},
		}}},
		ENIs: []*model.NetworkInterface{{ID: "eni-web", SubnetID: "subnet-web", VpcID: "vpc-1", Groups: []string{"sg-web"}, PrivateIP: netip.MustParseAddr("10.0.1.10")}},
		NACLs: []*model.NACL{{ID: "acl-1", VpcID: "vpc-1", Entries: []model.NACLEntry{
			{RuleNumber: 100, Protocol: "-1", Allow: true, CIDR: any4},
			{RuleNumber: 100, Egress: true, Protocol: "-1", Allow: true, CIDR: any4},
		}, Assocs: []model.NACLAssoc{{ID: "aclassoc-1", SubnetID: "subnet-web"}}}},
	}
}

// TestRuleChangesOf: what the trail's records rewind, and what they cannot — a modify of a
// rule whose earlier form no record holds is left in its later form, and said so.
func TestRuleChangesOf(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	modify := trailRecord(t, "123456789012", "ModifySecurityGroupRules", at,
		url.Values{"GroupId": {"sg-web"}, "SecurityGroupRule.1.SecurityGroupRuleId": {"sgr-old"},
			"SecurityGroupRule.1.SecurityGroupRule.IpProtocol": {"tcp"}, "SecurityGroupRule.1.SecurityGroupRule.FromPort": {"443"},
			"SecurityGroupRule.1.SecurityGroupRule.ToPort": {"443"}, "SecurityGroupRule.1.SecurityGroupRule.CidrIpv4": {"0.0.0.0/0"}},
		"<return>true</return>")
	// A revoke by permission: the rule's ID comes from the response.
	revoke := trailRecord(t, "123456789012", "RevokeSecurityGroupIngress", at.Add(time.Minute),
		url.Values{"GroupId": {"sg-web"}, "IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {"22"},
			"IpPermissions.1.ToPort": {"22"}, "IpPermissions.1.IpRanges.1.CidrIp": {"203.0.113.0/24"}},
		"<return>true</return><revokedSecurityGroupRuleSet>"+fmt.Sprintf(ruleXML, "sgr-ssh", 22, 22, "203.0.113.0/24")+"</revokedSecurityGroupRuleSet>")
	got, notes, err := ruleChangesOf([]json.RawMessage{modify, revoke})
	if err != nil {
		t.Fatal(err)
	}
	want := []flows.RuleChange{{Time: at.Add(time.Minute), GroupID: "sg-web", Rule: model.Rule{ID: "sgr-ssh", Protocol: "tcp", FromPort: 22, ToPort: 22,
		Peer: model.Peer{CIDR: netip.MustParsePrefix("203.0.113.0/24")}}}}
	if d := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "sgr-old") {
		t.Errorf("notes: %q", notes)
	}
}
