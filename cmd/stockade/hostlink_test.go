package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stockade/stockade/control"
)

// TestInternetOptInsOffByDefault: without flags the server links the lab's internet side to
// nothing of the host, and never masquerades.
func TestInternetOptInsOffByDefault(t *testing.T) {
	f := serverCmd().Flags()
	if d := f.Lookup("internet-masquerade").DefValue; d != "false" {
		t.Errorf("--internet-masquerade defaults to %s", d)
	}
	if d := f.Lookup("internet-allow").DefValue; d != "[]" {
		t.Errorf("--internet-allow defaults to %s", d)
	}
	if err := f.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg := serverConfig{LabPrefix: "stk", PublicPool: control.DefaultPublicPool.String()}
	if hl, err := cfg.hostLink(); err != nil || hl.On() || hl.Masquerade {
		t.Errorf("hostLink() = %+v, %v; want no link", hl, err)
	}
}

// TestInternetOptInsRefused: refused opt-ins stop the server before it opens anything.
func TestInternetOptInsRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		allow []string
		pool  string
		want  string
	}{
		{"the whole internet without masquerade", []string{"0.0.0.0/0"}, "", "needs --internet-masquerade"},
		{"the public pool", []string{"10.0.1.0/24"}, "10.0.0.0/16", "overlaps"},
		{"not a CIDR", []string{"host"}, "", "want an IPv4 CIDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := serverConfig{LabPrefix: "stk", LogLevel: "info", Quotas: control.DefaultQuotas(), DataDir: dir + "/data",
				PublicPool: tc.pool, InternetAllow: tc.allow}
			err := runServer(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("runServer = %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
				t.Errorf("the data directory was made before the flags were refused: %v", err)
			}
		})
	}
}
