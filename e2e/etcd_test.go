package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/datadir"
	"github.com/stockade/stockade/store/etcd/etcdtest"
)

// TestServersOnEtcd: with --etcd-endpoints the state is in etcd, not in the data directory,
// and several servers serve it at once. Two servers on one etcd share the administrator; what
// one acknowledges the other shows and builds on (a group, a rule, a name taken, a ClientToken
// replayed); a third started later with an empty data directory serves all of it; and none of
// them made a store file. When etcd is gone, a write is ServiceUnavailable (503) within 15 s.
func TestServersOnEtcd(t *testing.T) {
	srv := etcdtest.Start(t)
	args := []string{"--etcd-endpoints", strings.Join(srv.Endpoints, ","), "--etcd-prefix", "/e2e/"}
	a := startServer(t, "", args...)
	b := startServer(t, "", args...)
	if b.akid != a.akid {
		t.Fatalf("the second server's administrator key %s, want the first's %s", b.akid, a.akid)
	}
	ca, cb := ec2Client(a, a.akid, a.secret), ec2Client(b, b.akid, b.secret)
	cx := ctx(t)
	g, err := ca.CreateSecurityGroup(cx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("on-etcd"), Description: aws.String("kept in etcd")})
	if err != nil {
		t.Fatal(err)
	}
	// B authorizes on the group A created, and refuses A's name.
	perm := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
		IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}
	if _, err := cb.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: []types.IpPermission{perm}}); err != nil {
		t.Fatalf("B: authorize on A's group: %v", err)
	}
	_, err = cb.CreateSecurityGroup(cx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("on-etcd"), Description: aws.String("again")})
	wantCode(t, err, "InvalidGroup.Duplicate")
	// A ClientToken used on A and again on B creates one template.
	lt := func(c *ec2.Client) string {
		out, err := c.CreateLaunchTemplate(cx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("web"), ClientToken: aws.String("token-1"),
			LaunchTemplateData: &types.RequestLaunchTemplateData{InstanceType: types.InstanceTypeT3Micro}})
		if err != nil {
			t.Fatalf("create launch template: %v", err)
		}
		return aws.ToString(out.LaunchTemplate.LaunchTemplateId)
	}
	if la, lb := lt(ca), lt(cb); la != lb {
		t.Errorf("one ClientToken on two servers made two templates: %s and %s", la, lb)
	}
	checkRule := func(name string, c *ec2.Client) {
		t.Helper()
		out, err := c.DescribeSecurityGroups(cx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*g.GroupId}})
		if err != nil {
			t.Fatalf("%s: describe: %v", name, err)
		}
		if len(out.SecurityGroups) != 1 {
			t.Fatalf("%s: groups %+v", name, out.SecurityGroups)
		}
		got := out.SecurityGroups[0].IpPermissions
		if len(got) != 1 || len(got[0].IpRanges) != 1 {
			t.Fatalf("%s: rules %+v", name, got)
		}
		if diff := cmp.Diff([]string{"tcp", "22", "22", "10.0.0.0/8"},
			[]string{aws.ToString(got[0].IpProtocol), fmt.Sprint(aws.ToInt32(got[0].FromPort)), fmt.Sprint(aws.ToInt32(got[0].ToPort)), aws.ToString(got[0].IpRanges[0].CidrIp)}); diff != "" {
			t.Errorf("%s: the rule (-want +got):\n%s", name, diff)
		}
	}
	checkRule("A", ca)

	// A third server, started with an empty data directory after the others stopped.
	a.stop(t, syscall.SIGTERM)
	b.stop(t, syscall.SIGTERM)
	c := startServer(t, "", args...)
	if c.akid != a.akid {
		t.Errorf("the third server's administrator key %s, want %s", c.akid, a.akid)
	}
	for _, dir := range []string{a.dataDir, b.dataDir, c.dataDir} {
		if _, err := os.Stat(filepath.Join(dir, datadir.Store)); !os.IsNotExist(err) {
			t.Errorf("a server on etcd made %s: %v", datadir.Store, err)
		}
	}
	cc := ec2.NewFromConfig(sdkConfig(c.akid, c.secret), func(o *ec2.Options) {
		o.BaseEndpoint = aws.String(c.endpoint)
		o.RetryMaxAttempts = 1 // the 503 below, as the server answers it
	})
	checkRule("C", cc)

	// etcd gone: a write fails, with 503 and within the store's deadline; never a hang.
	srv.Stop()
	start := time.Now()
	_, err = cc.CreateSecurityGroup(cx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("no-quorum"), Description: aws.String("d")})
	if code, status := apiError(t, err); code != "ServiceUnavailable" || status != 503 {
		t.Errorf("a write without etcd: %s (%d), want ServiceUnavailable (503)", code, status)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("a write without etcd took %v to fail, want under 15 s", took)
	}
}

// twoServersOnEtcd starts an etcd and two servers on one prefix of it.
func twoServersOnEtcd(t *testing.T) (a, b *server) {
	t.Helper()
	srv := etcdtest.Start(t)
	args := []string{"--etcd-endpoints", strings.Join(srv.Endpoints, ","), "--etcd-prefix", "/e2e/"}
	return startServer(t, "", args...), startServer(t, "", args...)
}

// TestTrailAcrossServersOnEtcd: the change trail answers for every server on one etcd — a
// group created and groups described on A are found by `aws cloudtrail lookup-events` on B,
// each once, and the other way round (trail/replica.go).
func TestTrailAcrossServersOnEtcd(t *testing.T) {
	needCLI(t)
	a, b := twoServersOnEtcd(t)
	cx := ctx(t)
	ca, cb := ec2Client(a, a.akid, a.secret), ec2Client(b, b.akid, b.secret)
	ga, err := ca.CreateSecurityGroup(cx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("made-on-a"), Description: aws.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.DescribeSecurityGroups(cx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*ga.GroupId}}); err != nil {
		t.Fatal(err)
	}
	gb, err := cb.CreateSecurityGroup(cx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("made-on-b"), Description: aws.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	// lookup counts the events lookup-events on s finds by key and value, by their names,
	// among those whose record mentions mention.
	lookup := func(s *server, key, value, mention string) map[string]int {
		cli := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
		var out struct {
			Events []struct{ EventName, CloudTrailEvent string }
		}
		cli.ok(&out, "cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey="+key+",AttributeValue="+value)
		got := map[string]int{}
		for _, e := range out.Events {
			if strings.Contains(e.CloudTrailEvent, mention) {
				got[e.EventName]++
			}
		}
		return got
	}
	var created, described map[string]int
	waitFor(t, 30*time.Second, "A's calls in B's trail", func() bool {
		created = lookup(b, "ResourceName", *ga.GroupId, *ga.GroupId)
		described = lookup(b, "EventName", "DescribeSecurityGroups", *ga.GroupId) // a read names no resource
		return created["CreateSecurityGroup"] > 0 && described["DescribeSecurityGroups"] > 0
	})
	if diff := cmp.Diff(map[string]int{"CreateSecurityGroup": 1}, created); diff != "" {
		t.Errorf("B's trail of A's group (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"DescribeSecurityGroups": 1}, described); diff != "" {
		t.Errorf("B's trail of A's read (-want +got):\n%s", diff)
	}
	waitFor(t, 30*time.Second, "B's call in A's trail", func() bool {
		created = lookup(a, "ResourceName", *gb.GroupId, *gb.GroupId)
		return created["CreateSecurityGroup"] > 0
	})
	if diff := cmp.Diff(map[string]int{"CreateSecurityGroup": 1}, created); diff != "" {
		t.Errorf("A's trail of B's group (-want +got):\n%s", diff)
	}
}

// TestEventRulesAcrossServersOnEtcd: an EventBridge rule and its target made on B after A
// started reach A (events/shared.go): a call served by A delivers its event to the rule's
// file target in A's data directory.
func TestEventRulesAcrossServersOnEtcd(t *testing.T) {
	needCLI(t)
	a, b := twoServersOnEtcd(t)
	cli := awsCLI{t, b, filepath.Join(b.dataDir, "credentials"), "default"}
	var id struct{ Account string }
	cli.ok(&id, "sts", "get-caller-identity")
	cli.ok(nil, "events", "put-rule", "--name", "auth", "--event-pattern", `{"source":["aws.ec2"],"detail":{"eventName":["AuthorizeSecurityGroupIngress"]}}`)
	cli.ok(nil, "events", "put-targets", "--rule", "auth", "--targets", "Id=file,Arn=arn:stockade:events:us-east-1:"+id.Account+":file/auth")
	ca := ec2Client(a, a.akid, a.secret)
	cx := ctx(t)
	g, err := ca.CreateSecurityGroup(cx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("watched"), Description: aws.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	perm := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
		IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}
	// The rule reaches A a moment after B answered (A follows etcd's watch).
	onA := awsCLI{t, a, filepath.Join(a.dataDir, "credentials"), "default"}
	waitFor(t, 30*time.Second, "B's rule and target on A", func() bool {
		out, _, err := onA.run("events", "list-targets-by-rule", "--rule", "auth")
		return err == nil && strings.Contains(out, "file/auth")
	})
	if _, err := ca.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: []types.IpPermission{perm}}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(a.dataDir, "events", id.Account, "us-east-1", "auth.jsonl")
	waitFor(t, 30*time.Second, "A delivering to B's rule", func() bool {
		b, err := os.ReadFile(file)
		return err == nil && strings.Contains(string(b), *g.GroupId)
	})
}
