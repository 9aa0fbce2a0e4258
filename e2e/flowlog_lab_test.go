package e2e

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stockade/stockade/netlab"
)

// TestLabFlowLogRecords: a VPC flow log (ALL, custom format with tcp-flags, to S3) over real
// traffic between lab instances gives the records of flowlogs-multihost.md A2: one TCP
// connection gives four ACCEPT records with the initiator's SYN+FIN (3) and the reply's
// SYN-ACK+FIN (19); a SYN the group refuses gives an ingress REJECT with 2; a reply the
// network ACL drops gives an egress REJECT on the replying interface; a quiet interface gives
// NODATA. The records are read back with `aws s3 cp`, gunzipped, each file with its header;
// they arrive within a window and 30 s (the window is shortened with --flow-log-window).
func TestLabFlowLogRecords(t *testing.T) {
	needCLI(t)
	const window = 3 * time.Second
	e := newLabEnv(t, "--flow-log-window", window.String())
	cli := awsCLI{t, e.s, filepath.Join(e.s.dataDir, "credentials"), "default"}
	bucket := "flows-" + e.prefix
	cli.ok(nil, "s3", "mb", "s3://"+bucket)

	vpc, _ := e.vpc("10.61.0.0/16")
	s1, s2 := e.subnet(vpc, "10.61.1.0/24"), e.subnet(vpc, "10.61.2.0/24")
	client, server := e.group(vpc), e.group(vpc)
	e.allowIn(server, perm("tcp", 8080, 8080, "10.61.1.0/24"))
	a, b, quiet := e.launch(s1, client), e.launch(s2, server), e.launch(s1, client)
	e.serve(b, 8080, 9090)
	const format = "${interface-id} ${flow-direction} ${srcaddr} ${srcport} ${dstaddr} ${dstport} ${protocol} ${packets} ${action} ${tcp-flags} ${log-status}"
	out := must[*ec2.CreateFlowLogsOutput](t)(e.c.CreateFlowLogs(ctx(t), &ec2.CreateFlowLogsInput{
		ResourceIds: []string{vpc}, ResourceType: types.FlowLogsResourceTypeVpc, TrafficType: types.TrafficTypeAll,
		LogDestinationType: types.LogDestinationTypeS3, LogDestination: aws.String("arn:aws:s3:::" + bucket),
		LogFormat: aws.String(format), MaxAggregationInterval: aws.Int32(60)}))
	if len(out.FlowLogIds) != 1 || len(out.Unsuccessful) != 0 {
		t.Fatalf("create-flow-logs: %+v", out)
	}
	e.enforced()

	// records downloads every object of the bucket with the AWS CLI and returns their lines
	// without headers, checking that each file starts with the format's header.
	records := func() []string {
		t.Helper()
		dir := t.TempDir()
		if _, errOut, err := cli.run("s3", "cp", "--recursive", "--quiet", "s3://"+bucket+"/", dir); err != nil {
			t.Fatalf("aws s3 cp --recursive: %v\n%s", err, errOut)
		}
		var lines []string
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if !strings.HasSuffix(path, ".log.gz") || !strings.Contains(path, "/AWSLogs/") {
				t.Errorf("object %s is not under AWS's layout", path)
			}
			data, _ := os.ReadFile(path)
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			text, _ := io.ReadAll(zr)
			ls := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
			if want := strings.NewReplacer("${", "", "}", "").Replace(format); ls[0] != want {
				t.Errorf("%s: header %q, want %q", path, ls[0], want)
			}
			lines = append(lines, ls[1:]...)
			return nil
		})
		return lines
	}
	// waitFor polls the bucket until match finds what it wants; the records of traffic are
	// due a window and 30 s after it.
	waitFor := func(what string, match func([]string) bool) []string {
		t.Helper()
		deadline := time.Now().Add(window + 30*time.Second)
		for {
			ls := records()
			if match(ls) {
				return ls
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within a window and 30 s; records:\n%s\nserver:\n%s", what, strings.Join(ls, "\n"), e.s.stderr.String())
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	// sum is the OR of tcp-flags over the records of one interface, direction, flow and
	// action (a connection may straddle two windows).
	type key struct{ eni, dir, src, sport, dst, dport, action string }
	sum := func(ls []string) map[key]int {
		flags := map[key]int{}
		for _, l := range ls {
			f := strings.Fields(l)
			if len(f) != 11 || f[10] != "OK" {
				continue
			}
			k := key{f[0], f[1], f[2], f[3], f[4], f[5], f[8]}
			if fl, err := strconv.Atoi(f[9]); err == nil {
				flags[k] |= fl
			}
		}
		return flags
	}
	// some is a match for waitFor: some record's key and tcp-flags satisfy ok.
	some := func(ok func(k key, flags int) bool) func([]string) bool {
		return func(ls []string) bool {
			for k, v := range sum(ls) {
				if ok(k, v) {
					return true
				}
			}
			return false
		}
	}

	// No traffic yet: NODATA records, every traffic field "-". Once they are there the
	// recorder has read the flow log and listens to the router's log groups, so the traffic
	// below is seen whole.
	waitFor("NODATA for the quiet interface", func(ls []string) bool {
		for _, l := range ls {
			if l == quiet.ENI+" - - - - - - - - - NODATA" {
				return true
			}
		}
		return false
	})

	// One connection a → b:8080, opened and closed.
	const sport = 43210
	conn, err := netlab.DialTCPFrom(a.NS, sport, netipPort(b.IP, 8080), netlab.PassTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Echo(netlab.PassTimeout); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	A, B, P := a.IP.String(), b.IP.String(), strconv.Itoa(sport)
	want := map[key]int{
		{a.ENI, "egress", A, P, B, "8080", "ACCEPT"}:  3,
		{a.ENI, "ingress", B, "8080", A, P, "ACCEPT"}: 19,
		{b.ENI, "ingress", A, P, B, "8080", "ACCEPT"}: 3,
		{b.ENI, "egress", B, "8080", A, P, "ACCEPT"}:  19,
	}
	waitFor("four records of the connection", func(ls []string) bool {
		flags := sum(ls)
		for k, v := range want {
			if flags[k] != v {
				return false
			}
		}
		return true
	})

	// A SYN the server's group refuses: ingress REJECT on b, tcp-flags 2.
	netlab.TCP(a.NS, netipPort(b.IP, 9090), 300*time.Millisecond)
	waitFor("ingress REJECT with tcp-flags 2 for the refused SYN", some(func(k key, flags int) bool {
		return k.eni == b.ENI && k.dir == "ingress" && k.dport == "9090" && k.action == "REJECT" && flags == 2
	}))

	// b's subnet gets a network ACL that lets everything in and nothing out: a's SYN is
	// admitted, b's SYN-ACK is dropped on the way out — REJECT on b's egress, flags 18.
	acl := must[*ec2.CreateNetworkAclOutput](t)(e.c.CreateNetworkAcl(ctx(t), &ec2.CreateNetworkAclInput{VpcId: aws.String(vpc)}))
	must[*ec2.CreateNetworkAclEntryOutput](t)(e.c.CreateNetworkAclEntry(ctx(t), &ec2.CreateNetworkAclEntryInput{
		NetworkAclId: acl.NetworkAcl.NetworkAclId, RuleNumber: aws.Int32(100), Protocol: aws.String("-1"), RuleAction: types.RuleActionAllow,
		Egress: aws.Bool(false), CidrBlock: aws.String("0.0.0.0/0")}))
	cur := must[*ec2.DescribeNetworkAclsOutput](t)(e.c.DescribeNetworkAcls(ctx(t), &ec2.DescribeNetworkAclsInput{
		Filters: []types.Filter{{Name: aws.String("association.subnet-id"), Values: []string{s2}}}}))
	var assoc string
	for _, as := range cur.NetworkAcls[0].Associations {
		if *as.SubnetId == s2 {
			assoc = *as.NetworkAclAssociationId
		}
	}
	must[*ec2.ReplaceNetworkAclAssociationOutput](t)(e.c.ReplaceNetworkAclAssociation(ctx(t), &ec2.ReplaceNetworkAclAssociationInput{
		AssociationId: aws.String(assoc), NetworkAclId: acl.NetworkAcl.NetworkAclId}))
	e.enforced()
	e.expectTCP(a, b, 8080, false)
	waitFor("egress REJECT of the reply the ACL dropped", some(func(k key, flags int) bool {
		return k.eni == b.ENI && k.dir == "egress" && k.sport == "8080" && k.action == "REJECT" && flags == 18
	}))
}
