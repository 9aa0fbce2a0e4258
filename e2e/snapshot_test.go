package e2e

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
	"github.com/stockade/stockade/snapshot"
)

// TestOfflineSnapshotFromAWSCLI writes a snapshot with the AWS CLI commands the snapshot
// package documents (run against Stockade instead of AWS), loads it and asks the policy.
func TestOfflineSnapshotFromAWSCLI(t *testing.T) {
	cliTest(t)
	s := startServer(t, "")
	a := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
	var vpc struct{ Vpc struct{ VpcId string } }
	a.ok(&vpc, "ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")
	var web, dbSub struct{ Subnet struct{ SubnetId string } }
	a.ok(&web, "ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", "10.0.1.0/24")
	a.ok(&dbSub, "ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", "10.0.2.0/24")
	group := func(name string) string {
		var g struct{ GroupId string }
		a.ok(&g, "ec2", "create-security-group", "--vpc-id", vpc.Vpc.VpcId, "--group-name", name, "--description", name)
		return g.GroupId
	}
	wg, dg := group("web"), group("db")
	a.ok(nil, "ec2", "authorize-security-group-ingress", "--group-id", wg, "--protocol", "tcp", "--port", "443", "--cidr", "0.0.0.0/0")
	a.ok(nil, "ec2", "authorize-security-group-ingress", "--group-id", dg, "--protocol", "tcp", "--port", "5432", "--source-group", wg)
	eni := func(subnet, group string) string {
		var n struct {
			NetworkInterface struct{ NetworkInterfaceId string }
		}
		a.ok(&n, "ec2", "create-network-interface", "--subnet-id", subnet, "--groups", group)
		return n.NetworkInterface.NetworkInterfaceId
	}
	we, de := eni(web.Subnet.SubnetId, wg), eni(dbSub.Subnet.SubnetId, dg)
	makePublic(a, vpc.Vpc.VpcId, we)
	dir := t.TempDir()
	exportSnapshot(a, dir)
	snap, err := snapshot.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(snap)
	if err != nil {
		t.Fatal(err)
	}
	ip := func(eniID string) netip.Addr {
		for _, n := range snap.ENIs {
			if n.ID == eniID {
				return n.PrivateIP
			}
		}
		t.Fatalf("%s not in the snapshot", eniID)
		return netip.Addr{}
	}
	flow := func(src, dst netip.Addr, port uint16) policy.Flow {
		return policy.Flow{Src: src, Dst: dst, Proto: model.ProtoNumTCP, SrcPort: 40000, DstPort: port}
	}
	internet := netip.MustParseAddr("198.51.100.7")
	if got := p.Verdict(policy.Outside, policy.Endpoint{ENI: we}, flow(internet, ip(we), 443)); got != policy.Admitted {
		t.Errorf("internet → web 443: %v", got)
	}
	ex := p.Explain(policy.Endpoint{ENI: we}, policy.Endpoint{ENI: de}, flow(ip(we), ip(de), 5432))
	if !ex.Allowed() || len(ex.IngressRules) != 1 || !strings.HasPrefix(ex.IngressRules[0].RuleID, "sgr-") || ex.SourceNACL == nil {
		t.Errorf("web → db 5432 across subnets: %+v", ex)
	}
	// The database has no public address: routing stops the internet before its groups would.
	if got := p.Verdict(policy.Outside, policy.Endpoint{ENI: de}, flow(internet, ip(de), 5432)); got != policy.NoRoute {
		t.Errorf("internet → db: %v, want no route (no public address)", got)
	}

	// The same question through `stockade reach`.
	out, err := exec.Command(binary, "reach", "--snapshot", dir, "--from", we, "--to", ip(de).String(), "--protocol", "tcp", "--port", "5432").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "REACHABLE") || !strings.Contains(string(out), "destination ingress allowed by: "+dg+" sgr-") {
		t.Errorf("stockade reach: %v\n%s", err, out)
	}
	c := exec.Command(binary, "reach", "--snapshot", dir, "--from", "198.51.100.7", "--to", de, "--port", "5432", "--json")
	out, _ = c.CombinedOutput()
	var ans reachAnswer
	if c.ProcessState.ExitCode() != 1 || json.Unmarshal(out, &ans) != nil || ans.Reachable || len(ans.Blockers) != 2 ||
		ans.Blockers[0].Code != "IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS" || ans.Blockers[1].Code != "ENI_SG_RULES_MISMATCH" {
		t.Errorf("stockade reach --json: exit %d (want 1: NOT REACHABLE)\n%s", c.ProcessState.ExitCode(), out)
	}

	// The newcomer's trial: without the ACL file the answer used to flip; now it is an error
	// (exit 2) that says which command writes the file.
	acls, _ := os.ReadFile(filepath.Join(dir, "describe-network-acls.json"))
	os.Remove(filepath.Join(dir, "describe-network-acls.json"))
	c = exec.Command(binary, "reach", "--snapshot", dir, "--exposed")
	out, _ = c.CombinedOutput()
	if c.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "describe-network-acls.json: missing: write it with `aws ec2 describe-network-acls") {
		t.Errorf("snapshot without ACLs: exit %d\n%s", c.ProcessState.ExitCode(), out)
	}
	os.WriteFile(filepath.Join(dir, "describe-network-acls.json"), acls, 0o600)

	// A malformed file names the file and the field.
	var raw map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "describe-subnets.json"))
	json.Unmarshal(b, &raw)
	raw["Subnets"].([]any)[0].(map[string]any)["CidrBlock"] = "10.0.300.0/24"
	b, _ = json.Marshal(raw)
	os.WriteFile(filepath.Join(dir, "describe-subnets.json"), b, 0o600)
	if _, err := snapshot.Load(dir); err == nil || !strings.Contains(err.Error(), "describe-subnets.json") || !strings.Contains(err.Error(), "Subnets[0].CidrBlock") {
		t.Errorf("malformed subnet CIDR: %v", err)
	}
	os.Remove(filepath.Join(dir, "describe-network-interfaces.json"))
	if _, err := snapshot.Load(dir); err == nil || !strings.Contains(err.Error(), "describe-network-interfaces.json") {
		t.Errorf("missing file: %v", err)
	}
}

// makePublic makes an interface public as on AWS: an internet gateway attached to its VPC, a
// default route of the main table to it, and an Elastic IP on the interface.
func makePublic(a awsCLI, vpcID, eniID string) {
	var igw struct {
		InternetGateway struct{ InternetGatewayId string }
	}
	a.ok(&igw, "ec2", "create-internet-gateway")
	a.ok(nil, "ec2", "attach-internet-gateway", "--internet-gateway-id", igw.InternetGateway.InternetGatewayId, "--vpc-id", vpcID)
	var rtbs struct {
		RouteTables []struct{ RouteTableId string }
	}
	a.ok(&rtbs, "ec2", "describe-route-tables", "--filters", "Name=vpc-id,Values="+vpcID, "Name=association.main,Values=true")
	a.ok(nil, "ec2", "create-route", "--route-table-id", rtbs.RouteTables[0].RouteTableId, "--destination-cidr-block", "0.0.0.0/0",
		"--gateway-id", igw.InternetGateway.InternetGatewayId)
	var eip struct{ AllocationId string }
	a.ok(&eip, "ec2", "allocate-address")
	a.ok(nil, "ec2", "associate-address", "--allocation-id", eip.AllocationId, "--network-interface-id", eniID)
}

// exportSnapshot writes the snapshot directory with the AWS CLI commands the snapshot package
// documents (snapshot.Files), and the extra ones named (snapshot.ExtraFiles' commands).
func exportSnapshot(a awsCLI, dir string, extra ...string) {
	a.t.Helper()
	var cmds []string
	for _, f := range snapshot.Files {
		cmds = append(cmds, strings.TrimPrefix(f.Command, "aws ec2 "))
	}
	for _, c := range append(cmds, extra...) {
		out, errOut, err := a.run("ec2", c)
		if err != nil {
			a.t.Fatalf("%v: %v %s", c, err, errOut)
		}
		os.WriteFile(filepath.Join(dir, c+".json"), []byte(out), 0o600)
	}
}
