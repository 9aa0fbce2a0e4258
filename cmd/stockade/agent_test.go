package main

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/cluster"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/store/bolt"
)

// TestAgentPlacements: what an agent gives its host reconciler — every registered host's
// underlay address, its own internet namespace, and where each interface runs: an instance's on
// the instance's host, a NAT gateway's on the gateway's host.
func TestAgentPlacements(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, name := range []string{"h1", "h2"} {
		h := cluster.Host{Name: name, Zone: "us-east-1a", VCPUs: 2, MemoryMiB: 2048, Lease: time.Minute,
			Underlay: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}).String()}
		if err := cluster.Register(ctx, st, h, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	p := &placements{st: st, self: "h1", ns: "tbh1-host", internet: "tb-internet", log: slog.New(slog.DiscardHandler)}
	nets := []netmap.Network{{
		Snapshot: netmap.Snapshot{NATGateways: []*model.NATGateway{
			{ID: "nat-1", ENIID: "eni-n1", Node: "h2"},
			{ID: "nat-2", ENIID: "eni-n2"}, // unplaced: every host runs it on the first by name
		}},
		Instances: []*model.Instance{{ID: "i-1", Node: "h1", InterfaceIDs: []string{"eni-1", "eni-2"}}, {ID: "i-2", Node: "h2", InterfaceIDs: []string{"eni-3"}}},
	}}
	got := p.of(nets)
	if got.Self != "h1" || got.Namespace != "tbh1-host" || got.Internet != "tb-internet" {
		t.Errorf("placement of %q in %q with internet %q", got.Self, got.Namespace, got.Internet)
	}
	want := map[string]string{"eni-1": "h1", "eni-2": "h1", "eni-3": "h2", "eni-n1": "h2"}
	if diff := cmp.Diff(want, got.Of); diff != "" {
		t.Errorf("interfaces' hosts (-want +got):\n%s", diff)
	}
	if u := got.Underlay; u["h1"] != netip.MustParseAddr("192.0.2.1") || u["h2"] != netip.MustParseAddr("192.0.2.2") {
		t.Errorf("underlay addresses %v", u)
	}
}

// TestAgentFlowRelay: --api-endpoint and --credentials go together and make the relay with
// the credentials file's key; neither makes none.
func TestAgentFlowRelay(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := auth.WriteCredentials(creds, "default", auth.Account{ID: "123456789012", Name: "admin", AccessKeyID: "AKIAADMIN", SecretAccessKey: "sec"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		endpoint, creds string
		relay           bool
		err             string
	}{
		{"", "", false, ""},
		{"http://127.0.0.1:8787", creds, true, ""},
		{"http://127.0.0.1:8787", "", false, "needs --credentials"},
		{"", creds, false, "give both"},
		{"127.0.0.1:8787", creds, false, "want http://HOST:PORT"},
		{"http://127.0.0.1:8787", creds + ".missing", false, "--credentials"},
	} {
		cfg := agentConfig{APIEndpoint: tt.endpoint, Credentials: tt.creds}
		cfg.Host.Name = "h1"
		c, err := cfg.flowRelay(slog.New(slog.DiscardHandler))
		if (c != nil) != tt.relay || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%q %q: relay %v, err %v; want relay %v, err %q", tt.endpoint, tt.creds, c != nil, err, tt.relay, tt.err)
			continue
		}
		if c != nil && (c.AccessKeyID != "AKIAADMIN" || c.Secret != "sec" || c.Endpoint != tt.endpoint || c.Host != "h1") {
			t.Errorf("relay %+v", c)
		}
	}
}
