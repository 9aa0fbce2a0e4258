package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stockade/stockade/netmap"
)

func TestFindLabInstance(t *testing.T) {
	ins := []netmap.LabInstance{
		{ID: "i-1", Address: "10.0.1.4", VpcID: "vpc-a"},
		{ID: "i-2", Address: "10.0.1.5", VpcID: "vpc-a"},
		{ID: "i-3", Address: "10.0.1.4", VpcID: "vpc-b"}, // the same address in another VPC
	}
	for _, c := range []struct {
		arg, want, err string
	}{
		{"i-2", "i-2", ""},
		{"10.0.1.5", "i-2", ""},
		{"10.0.1.4", "", "2 lab instances have the address 10.0.1.4"},
		{"10.0.9.9", "", "no lab instance has the address 10.0.9.9"},
		{"i-9", "", "i-9 is not a running lab instance"},
	} {
		got, err := findLabInstance(ins, c.arg)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.arg, err, c.err)
			}
			continue
		}
		if err != nil || got.ID != c.want {
			t.Errorf("%s: %s, %v; want %s", c.arg, got.ID, err, c.want)
		}
	}
}

// TestShellWords: the ProxyCommand's words reach the command intact, whatever they hold.
func TestShellWords(t *testing.T) {
	words := []string{"/opt/my stockade", "it's", "$(touch /tmp/x)", "a;b", ""}
	out, err := exec.Command("/bin/sh", "-c", `for w in `+shellWords(words...)+`; do printf '<%s>' "$w"; done`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "</opt/my stockade><it's><$(touch /tmp/x)><a;b><>"; string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
}

func TestLimitsColumn(t *testing.T) {
	if got := limits(netmap.Limits{MemoryMiB: 512, VCPUs: 2, Processes: 1024, DiskMiB: 1024}); got != "512MiB/2vcpu/1024procs/1024MiB-disk" {
		t.Errorf("limits = %s", got)
	}
	if got := limits(netmap.Limits{}); got != "-" {
		t.Errorf("no limits = %s", got)
	}
}
