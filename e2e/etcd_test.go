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
	"github.com/stockade/stockade/store/etcd"
	"github.com/stockade/stockade/store/etcd/etcdtest"
)

// TestServerOnEtcd: with --etcd-endpoints the state is in etcd, not in the data directory: a
// server restarted on the same cluster with a new, empty data directory serves the group and
// rule the first one acknowledged, under the same administrator, and neither made a store file.
// While a server runs, it holds its prefix.
func TestServerOnEtcd(t *testing.T) {
	srv := etcdtest.Start(t)
	args := []string{"--etcd-endpoints", strings.Join(srv.Endpoints, ","), "--etcd-prefix", "/e2e/"}
	s := startServer(t, "", args...)
	c := ec2Client(s, s.akid, s.secret)
	cx := ctx(t)
	g, err := c.CreateSecurityGroup(cx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("on-etcd"), Description: aws.String("kept in etcd")})
	if err != nil {
		t.Fatal(err)
	}
	perm := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
		IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}
	if _, err := c.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: []types.IpPermission{perm}}); err != nil {
		t.Fatal(err)
	}
	// The running server holds its prefix: a second one would be refused, naming it.
	other := etcd.Options{Endpoints: srv.Endpoints, Prefix: "/e2e/", Exclusive: true, LeaseTTL: time.Second, Timeout: time.Second}
	if st, err := etcd.Open(cx, other); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", s.cmd.Process.Pid)) {
		if st != nil {
			st.Close()
		}
		t.Errorf("a second holder of the running server's prefix: %v", err)
	}
	s.stop(t, syscall.SIGTERM)
	// and hands it over when it stops: a holder waiting only 2 s gets it, long before the
	// stopped server's 10 s lease could have run out.
	if st, err := etcd.Open(cx, other); err != nil {
		t.Errorf("the prefix after the server stopped: %v", err)
	} else {
		st.Close()
	}

	s2 := startServer(t, "", args...)
	if s2.akid != s.akid {
		t.Errorf("the second server's administrator key %s, want the first's %s", s2.akid, s.akid)
	}
	for _, dir := range []string{s.dataDir, s2.dataDir} {
		if _, err := os.Stat(filepath.Join(dir, datadir.Store)); !os.IsNotExist(err) {
			t.Errorf("a server on etcd made %s: %v", datadir.Store, err)
		}
	}
	out, err := ec2Client(s2, s2.akid, s2.secret).DescribeSecurityGroups(cx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*g.GroupId}})
	if err != nil {
		t.Fatalf("the group after the restart: %v", err)
	}
	if len(out.SecurityGroups) != 1 {
		t.Fatalf("groups after the restart: %+v", out.SecurityGroups)
	}
	got := out.SecurityGroups[0].IpPermissions
	if len(got) != 1 || len(got[0].IpRanges) != 1 {
		t.Fatalf("rules after the restart: %+v", got)
	}
	if diff := cmp.Diff([]string{"tcp", "22", "22", "10.0.0.0/8"},
		[]string{aws.ToString(got[0].IpProtocol), fmt.Sprint(aws.ToInt32(got[0].FromPort)), fmt.Sprint(aws.ToInt32(got[0].ToPort)), aws.ToString(got[0].IpRanges[0].CidrIp)}); diff != "" {
		t.Errorf("the rule after the restart (-want +got):\n%s", diff)
	}
}
