package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// shellWords splits a command line as sh would for the commands the analyser prints: words
// separated by spaces, single quotes grouping.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, inWord := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
			}
			inWord = false
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// reachExposed is an entry of `stockade reach --exposed --json`.
type reachExposed struct {
	Interface       string
	PublicIP        string `json:"publicIp"`
	InternetGateway string `json:"internetGateway"`
	Traffic         []struct{ Protocol, Ports string }
}

type reachAnswer struct {
	Reachable bool `json:"reachable"`
	Blockers  []struct {
		Code       string `json:"code"`
		Direction  string `json:"direction"`
		ReturnPath bool   `json:"returnPath"`
	} `json:"blockers"`
	Fix []string `json:"fix"`
}

// TestReachAgainstRunningServer asks the three questions of a running server's account with
// `stockade reach`, runs the fixes it prints with the AWS CLI and checks that they flip the
// answer, then asks the same through the Network Insights API.
func TestReachAgainstRunningServer(t *testing.T) {
	cliTest(t)
	s := startServer(t, "")
	a := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
	var vpc struct{ Vpc struct{ VpcId string } }
	a.ok(&vpc, "ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")
	subnet := func(cidr string) string {
		var sn struct{ Subnet struct{ SubnetId string } }
		a.ok(&sn, "ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", cidr)
		return sn.Subnet.SubnetId
	}
	webNet, appNet, dbNet := subnet("10.0.1.0/24"), subnet("10.0.2.0/24"), subnet("10.0.3.0/24")
	group := func(name string) string {
		var g struct{ GroupId string }
		a.ok(&g, "ec2", "create-security-group", "--vpc-id", vpc.Vpc.VpcId, "--group-name", name, "--description", name)
		return g.GroupId
	}
	wg, ag, dg := group("web"), group("app"), group("db")
	a.ok(nil, "ec2", "authorize-security-group-ingress", "--group-id", wg, "--protocol", "tcp", "--port", "443", "--cidr", "0.0.0.0/0")
	a.ok(nil, "ec2", "authorize-security-group-ingress", "--group-id", ag, "--protocol", "tcp", "--port", "8080", "--source-group", wg)
	a.ok(nil, "ec2", "authorize-security-group-ingress", "--group-id", dg, "--protocol", "tcp", "--port", "5432", "--source-group", ag)
	eni := func(subnet, group string) string {
		var n struct {
			NetworkInterface struct{ NetworkInterfaceId string }
		}
		a.ok(&n, "ec2", "create-network-interface", "--subnet-id", subnet, "--groups", group)
		return n.NetworkInterface.NetworkInterfaceId
	}
	we, ae, de := eni(webNet, wg), eni(appNet, ag), eni(dbNet, dg)

	// reachEnv runs `stockade reach` with env added to a clean AWS region environment and
	// returns its output and exit status.
	reachEnv := func(env []string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(binary, append([]string{"reach"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_REGION=", "AWS_DEFAULT_REGION=", "STOCKADE_DATA_DIR="+s.dataDir)
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("stockade reach %v: %v", args, err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	// reach asks through STOCKADE_DATA_DIR (no --data-dir); an error (status 2) fails the test.
	reach := func(args ...string) string {
		t.Helper()
		out, code := reachEnv(nil, args...)
		if code != 0 && code != 1 {
			t.Fatalf("stockade reach %v: exit %d\n%s", args, code, out)
		}
		return out
	}
	// ask asks can A reach B, and checks that the exit status agrees with the answer.
	ask := func(from, to, port string) reachAnswer {
		t.Helper()
		var ans reachAnswer
		out, code := reachEnv(nil, "--from", from, "--to", to, "--port", port, "--json")
		if err := json.Unmarshal([]byte(out), &ans); err != nil {
			t.Fatalf("reach --json: %v\n%s", err, out)
		}
		if want := map[bool]int{true: 0, false: 1}[ans.Reachable]; code != want {
			t.Errorf("reach %s → %s (reachable %v): exit %d, want %d", from, to, ans.Reachable, code, want)
		}
		return ans
	}
	runFix := func(ans reachAnswer) {
		t.Helper()
		if len(ans.Fix) == 0 {
			t.Fatalf("no fix in %+v", ans)
		}
		for _, cmd := range ans.Fix {
			words := shellWords(cmd)
			if words[0] != "aws" {
				t.Fatalf("fix %q is not an AWS CLI command", cmd)
			}
			a.ok(nil, words[1:]...)
		}
	}

	// Can A reach B? app → db is open; web → db is not, and the printed fix opens it.
	if out := reach("--from", ae, "--to", de, "--port", "5432"); !strings.Contains(out, "REACHABLE") || !strings.Contains(out, dg+" sgr-") {
		t.Errorf("app → db:\n%s", out)
	}
	ans := ask(we, de, "5432")
	if ans.Reachable || len(ans.Blockers) != 1 || ans.Blockers[0].Code != "ENI_SG_RULES_MISMATCH" || ans.Blockers[0].Direction != "ingress" {
		t.Fatalf("web → db: %+v", ans)
	}
	runFix(ans)
	if ans := ask(we, de, "5432"); !ans.Reachable {
		t.Fatalf("web → db after the fix: %+v", ans)
	}
	// The fix the other way: block web → db again, at the db subnet's ACL.
	runFix(ask(we, de, "5432"))
	ans = ask(we, de, "5432")
	if ans.Reachable || len(ans.Blockers) != 1 || ans.Blockers[0].Code != "SUBNET_ACL_RESTRICTION" {
		t.Fatalf("web → db after blocking: %+v", ans)
	}
	if ans := ask(ae, de, "5432"); !ans.Reachable {
		t.Errorf("app → db was blocked too: %+v", ans)
	}

	// Exit statuses for scripts: 0 REACHABLE, 1 NOT REACHABLE (text as well as --json), 2 for
	// an error; tcp and udp need --port; the region comes from AWS_REGION or AWS_DEFAULT_REGION.
	if out, code := reachEnv(nil, "--from", ae, "--to", de, "--port", "5432"); code != 0 || !strings.Contains(out, ": REACHABLE") {
		t.Errorf("app → db: exit %d\n%s", code, out)
	}
	if out, code := reachEnv(nil, "--from", we, "--to", de, "--port", "5432"); code != 1 || !strings.Contains(out, "NOT REACHABLE") {
		t.Errorf("web → db: exit %d, want 1\n%s", code, out)
	}
	for _, proto := range []string{"tcp", "udp", "17"} {
		if out, code := reachEnv(nil, "--from", ae, "--to", de, "--protocol", proto); code != 2 || !strings.Contains(out, "--port is required") {
			t.Errorf("--protocol %s without --port: exit %d\n%s", proto, code, out)
		}
	}
	if out, code := reachEnv(nil, "--from", ae, "--to", de, "--protocol", "icmp"); code != 0 && code != 1 {
		t.Errorf("icmp needs no --port: exit %d\n%s", code, out)
	}
	if out, code := reachEnv(nil, "--to", "eni-0123456789abcdef0"); code != 2 || !strings.HasPrefix(out, "stockade: ") {
		t.Errorf("unknown interface: exit %d\n%s", code, out)
	}
	if out, code := reachEnv([]string{"AWS_DEFAULT_REGION=us-west-2"}, "--to", de); code != 2 {
		t.Errorf("AWS_DEFAULT_REGION=us-west-2 asked us-east-1 (exit %d)\n%s", code, out)
	}
	if out, code := reachEnv([]string{"AWS_DEFAULT_REGION=us-west-2", "AWS_REGION=us-east-1"}, "--to", de); code != 0 {
		t.Errorf("AWS_REGION wins over AWS_DEFAULT_REGION: exit %d\n%s", code, out)
	}
	if out, code := reachEnv([]string{"STOCKADE_DATA_DIR=" + t.TempDir()}, "--to", de); code != 2 || !strings.Contains(out, "no stockade server is running") {
		t.Errorf("STOCKADE_DATA_DIR not read: exit %d\n%s", code, out)
	}
	if out, code := reachEnv([]string{"STOCKADE_DATA_DIR=" + t.TempDir()}, "--data-dir", s.dataDir, "--to", de); code != 0 {
		t.Errorf("--data-dir must win over STOCKADE_DATA_DIR: exit %d\n%s", code, out)
	}

	// What can reach B? What is exposed?
	if out := reach("--to", de); !strings.Contains(out, "tcp 5432") || strings.Contains(out, "tcp 443") {
		t.Errorf("what can reach db:\n%s", out)
	}
	// The internet reaches the web tier only through an attached internet gateway, a route to
	// it and a public address, as on AWS: each step is taken and checked in turn.
	exposure := func() []reachExposed {
		t.Helper()
		var exposed []reachExposed
		if err := json.Unmarshal([]byte(reach("--exposed", "--json")), &exposed); err != nil {
			t.Fatal(err)
		}
		return exposed
	}
	if got := exposure(); len(got) != 0 {
		t.Errorf("exposed without an internet gateway: %+v", got)
	}
	var igw struct {
		InternetGateway struct{ InternetGatewayId string }
	}
	a.ok(&igw, "ec2", "create-internet-gateway")
	a.ok(nil, "ec2", "attach-internet-gateway", "--internet-gateway-id", igw.InternetGateway.InternetGatewayId, "--vpc-id", vpc.Vpc.VpcId)
	var rtbs struct {
		RouteTables []struct{ RouteTableId string }
	}
	a.ok(&rtbs, "ec2", "describe-route-tables", "--filters", "Name=vpc-id,Values="+vpc.Vpc.VpcId, "Name=association.main,Values=true")
	a.ok(nil, "ec2", "create-route", "--route-table-id", rtbs.RouteTables[0].RouteTableId, "--destination-cidr-block", "0.0.0.0/0",
		"--gateway-id", igw.InternetGateway.InternetGatewayId)
	if got := exposure(); len(got) != 0 {
		t.Errorf("exposed without a public address: %+v", got)
	}
	var eip struct{ AllocationId, PublicIp string }
	a.ok(&eip, "ec2", "allocate-address")
	a.ok(nil, "ec2", "associate-address", "--allocation-id", eip.AllocationId, "--network-interface-id", we)
	exposed := exposure()
	if len(exposed) != 1 || exposed[0].Interface != we || len(exposed[0].Traffic) != 1 || exposed[0].Traffic[0].Ports != "443" ||
		exposed[0].PublicIP != eip.PublicIp || exposed[0].InternetGateway != igw.InternetGateway.InternetGatewayId {
		t.Errorf("exposure: %+v, want %s at %s through %s", exposed, we, eip.PublicIp, igw.InternetGateway.InternetGatewayId)
	}

	// The Network Insights API with the AWS CLI.
	var path struct {
		NetworkInsightsPath struct{ NetworkInsightsPathId string }
	}
	a.ok(&path, "ec2", "create-network-insights-path", "--source", ae, "--destination", de, "--protocol", "tcp", "--destination-port", "5432")
	type analysis struct {
		NetworkInsightsAnalysisId string
		Status                    string
		NetworkPathFound          bool
		ForwardPathComponents     []struct{ Component struct{ Id string } }
		Explanations              []struct {
			ExplanationCode string
			Direction       string
			Acl             struct{ Id string }
		}
	}
	var started struct{ NetworkInsightsAnalysis analysis }
	a.ok(&started, "ec2", "start-network-insights-analysis", "--network-insights-path-id", path.NetworkInsightsPath.NetworkInsightsPathId)
	if got := started.NetworkInsightsAnalysis; got.Status != "succeeded" || !got.NetworkPathFound || len(got.ForwardPathComponents) != 4 {
		t.Errorf("app → db analysis: %+v", got)
	}
	var blocked struct {
		NetworkInsightsPath struct{ NetworkInsightsPathId string }
	}
	a.ok(&blocked, "ec2", "create-network-insights-path", "--source", we, "--destination", de, "--protocol", "tcp", "--destination-port", "5432")
	a.ok(&started, "ec2", "start-network-insights-analysis", "--network-insights-path-id", blocked.NetworkInsightsPath.NetworkInsightsPathId)
	var described struct{ NetworkInsightsAnalyses []analysis }
	a.ok(&described, "ec2", "describe-network-insights-analyses", "--network-insights-path-id", blocked.NetworkInsightsPath.NetworkInsightsPathId)
	if len(described.NetworkInsightsAnalyses) != 1 {
		t.Fatalf("describe analyses: %+v", described)
	}
	got := described.NetworkInsightsAnalyses[0]
	if got.NetworkPathFound || len(got.Explanations) != 1 || got.Explanations[0].ExplanationCode != "SUBNET_ACL_RESTRICTION" || got.Explanations[0].Acl.Id == "" {
		t.Errorf("web → db analysis: %+v", got)
	}
	a.fails("InvalidNetworkInterfaceID.NotFound", "ec2", "create-network-insights-path", "--source", "eni-0123456789abcdef0", "--destination", de, "--protocol", "tcp")
	a.fails("InvalidParameterValue", "ec2", "create-network-insights-path", "--source", ae, "--destination", de, "--protocol", "icmp")
	a.fails("DependencyViolation", "ec2", "delete-network-insights-path", "--network-insights-path-id", blocked.NetworkInsightsPath.NetworkInsightsPathId)
	a.ok(nil, "ec2", "delete-network-insights-analysis", "--network-insights-analysis-id", got.NetworkInsightsAnalysisId)
	a.ok(nil, "ec2", "delete-network-insights-path", "--network-insights-path-id", blocked.NetworkInsightsPath.NetworkInsightsPathId)
	a.fails("InvalidNetworkInsightsPathId.NotFound", "ec2", "start-network-insights-analysis", "--network-insights-path-id", blocked.NetworkInsightsPath.NetworkInsightsPathId)
}
