package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestKillNineLosesNoAcknowledgedWrite kills the server with SIGKILL during a burst of writes
// from several clients and checks, after a restart on the same data directory, that every
// group and rule whose creation was acknowledged with HTTP 200 is there.
func TestKillNineLosesNoAcknowledgedWrite(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	c := ec2Client(s, s.akid, s.secret)
	cx := ctx(t)
	var mu sync.Mutex
	acked := map[string]int32{} // group ID → port of its acknowledged rule (0: none yet)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				g, err := c.CreateSecurityGroup(cx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(fmt.Sprintf("w%d-%d", w, i)), Description: aws.String("burst")})
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[*g.GroupId] = 0
				mu.Unlock()
				port := int32(1000 + i)
				_, err = c.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: []types.IpPermission{{
					IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}}})
				if err != nil {
					return
				}
				mu.Lock()
				acked[*g.GroupId] = port
				mu.Unlock()
			}
		}(w)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.cmd.Process.Kill() // SIGKILL, by our own process's PID
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 50 {
		t.Fatalf("only %d writes acknowledged before the kill", len(acked))
	}

	s2 := startServer(t, dir)
	c2 := ec2Client(s2, s2.akid, s2.secret)
	var ids []string
	for id := range acked {
		ids = append(ids, id)
	}
	found := map[string][]types.IpPermission{}
	for i := 0; i < len(ids); i += 200 {
		end := min(i+200, len(ids))
		out, err := c2.DescribeSecurityGroups(cx, &ec2.DescribeSecurityGroupsInput{GroupIds: ids[i:end]})
		if err != nil {
			t.Fatalf("after restart, acknowledged groups are missing: %v", err)
		}
		for _, g := range out.SecurityGroups {
			found[*g.GroupId] = g.IpPermissions
		}
	}
	for id, port := range acked {
		perms, ok := found[id]
		if !ok {
			t.Errorf("acknowledged group %s lost", id)
			continue
		}
		if port != 0 && (len(perms) != 1 || *perms[0].FromPort != port) {
			t.Errorf("acknowledged rule tcp/%d of %s lost: %+v", port, id, perms)
		}
	}
	t.Logf("%d acknowledged groups survived kill -9", len(acked))
}

// TestCorruptDataDirIsRefused: a damaged store is an error naming the file, never a fresh start.
func TestCorruptDataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "stockade.db")
	garbage := []byte(strings.Repeat("this is not a stockade store\n", 500))
	os.WriteFile(db, garbage, 0o600)
	cmd := exec.Command(binary, "server", "--listen", freePort(t), "--data-dir", dir)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), db) {
		t.Fatalf("server on a corrupt store: err %v, output %s", err, out)
	}
	if got, _ := os.ReadFile(db); string(got) != string(garbage) {
		t.Error("the corrupt store was modified")
	}
}

// TestEmulatorMode: any credentials are accepted only with the explicit flag, loudly.
func TestEmulatorMode(t *testing.T) {
	cx := ctx(t)
	strict := startServer(t, "")
	_, err := ec2Client(strict, "123456789012", "anything").DescribeVpcs(cx, &ec2.DescribeVpcsInput{})
	wantCode(t, err, "AuthFailure")

	s := startServer(t, "", "--emulator-mode-accept-any-credentials")
	if !strings.Contains(s.stderr.String(), "EMULATOR MODE") {
		t.Errorf("no warning in the log: %s", s.stderr.String())
	}
	c := ec2Client(s, "123456789012", "anything")
	g, err := c.CreateSecurityGroup(cx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("ci"), Description: aws.String("from moto")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.DescribeSecurityGroups(cx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*g.GroupId}})
	if err != nil || *out.SecurityGroups[0].OwnerId != "123456789012" {
		t.Fatalf("owner: %+v %v", out, err)
	}
	other, err := ec2Client(s, "test", "test").DescribeSecurityGroups(cx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{{Name: aws.String("group-name"), Values: []string{"default"}}}})
	if err != nil || *other.SecurityGroups[0].OwnerId != "000000000000" {
		t.Fatalf("non-numeric key: %+v %v", other, err)
	}
}
