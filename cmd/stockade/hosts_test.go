package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/adminapi"
	"github.com/stockade/stockade/cluster"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/store/bolt"
	"github.com/stockade/stockade/store/etcd"
	"github.com/stockade/stockade/store/etcd/etcdtest"
)

// TestHostsCommand: hosts registered through the admin socket are listed by `stockade hosts`
// with what is placed on them, as a table and as JSON; a bad registration is refused with the
// registry's reason and changes nothing.
func TestHostsCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err := control.Open(ctx, st, control.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := adminapi.Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: adminapi.WithHosts(http.NotFoundHandler(), svc, nil)}
	go srv.Serve(ln)
	defer srv.Close()

	out, err := runCommand(t, hostsCmd(), "--data-dir", dir)
	if err != nil || !strings.Contains(out, "No host is registered") {
		t.Errorf("no hosts: %q %v", out, err)
	}
	admin := adminapi.Dial(dir)
	for _, h := range []cluster.Host{
		{Name: "node-a", Zone: "us-east-1a", VCPUs: 8, MemoryMiB: 16384, Labels: map[string]string{"rack": "r1"}},
		{Name: "node-b", Zone: "us-east-1a", VCPUs: 2, MemoryMiB: 4096},
	} {
		if err := admin.RegisterHost(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.RegisterHost(ctx, cluster.Host{Name: "Bad_Name", Zone: "us-east-1a", VCPUs: 1, MemoryMiB: 1}); err == nil || !strings.Contains(err.Error(), "Bad_Name") {
		t.Errorf("bad name: %v", err)
	}
	// A dedicated instance: on node-a (most free), which is then the account's.
	tn := control.Tenant{Account: "111122223333", Region: "us-east-1"}
	vpc, _, err := svc.CreateVPC(ctx, tn, control.CreateVPCInput{CIDR: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	sn, _, err := svc.CreateSubnet(ctx, tn, control.CreateSubnetInput{VpcID: vpc.ID, CIDR: "10.0.1.0/24", Zone: "us-east-1a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.RunInstances(ctx, tn, control.RunInput{ImageID: image.DefaultID, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1,
		SubnetID: sn.ID, Tenancy: model.TenancyDedicated}); err != nil {
		t.Fatal(err)
	}

	out, err = runCommand(t, hostsCmd(), "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and two hosts:\n%s", out)
	}
	for i, want := range [][]string{
		{"node-a", "us-east-1a", "8 vCPU 16384 MiB", "2 vCPU 1024 MiB", "1", "up", "111122223333", "rack=r1"},
		{"node-b", "us-east-1a", "2 vCPU 4096 MiB", "0 vCPU 0 MiB", "0", "up", "-", "-"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("row %d lacks %q: %s", i+1, w, lines[i+1])
			}
		}
	}

	var got []cluster.Status
	out, err = runCommand(t, hostsCmd(), "--data-dir", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want, err := svc.HostStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Errorf("--json (-server +printed):\n%s", d)
	}
	if got[0].Used.Instances != 1 || got[0].Dedicated != tn.Account {
		t.Errorf("node-a: %+v", got[0])
	}
	// An occupied host is not deregistered; an empty one is.
	if err := admin.DeregisterHost(ctx, "node-a"); err == nil {
		t.Error("deregistered a host with an instance")
	}
	if err := admin.DeregisterHost(ctx, "node-b"); err != nil {
		t.Error(err)
	}
	if hs, _ := admin.Hosts(ctx); len(hs) != 1 {
		t.Errorf("after deregistering node-b: %v", hs)
	}
}

// TestHostsCommandOnEtcd: with --etcd-endpoints the command reads the hosts an agent wrote
// into etcd (cluster.Register under the prefix), with no server running; a host whose lease
// lapsed is listed down.
func TestHostsCommandOnEtcd(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	st, err := etcd.Open(ctx, etcd.Options{Endpoints: srv.Endpoints, Prefix: "/lab/"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := cluster.Register(ctx, st, cluster.Host{Name: "agent-1", Zone: "us-east-1b", VCPUs: 4, MemoryMiB: 8192}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Register(ctx, st, cluster.Host{Name: "agent-2", Zone: "us-east-1b", VCPUs: 4, MemoryMiB: 8192, Lease: time.Second},
		time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	out, err := runCommand(t, hostsCmd(), "--data-dir", t.TempDir(), "--etcd-endpoints", strings.Join(srv.Endpoints, ","), "--etcd-prefix", "/lab/", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got []cluster.Status
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got) != 2 || got[0].Name != "agent-1" || got[0].State != cluster.Up || got[1].State != cluster.Down {
		t.Errorf("hosts on etcd: %+v", got)
	}
}
