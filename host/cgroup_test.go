package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLimitsOf(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		want Limits
	}{
		{"t3.nano", Limits{MemoryMiB: 512, VCPUs: 2, Processes: 1024}},
		{"t2.nano", Limits{MemoryMiB: 512, VCPUs: 1, Processes: 512}},
		{"t3a.2xlarge", Limits{MemoryMiB: 32768, VCPUs: 8, Processes: 4096}},
		{"m5.large", Limits{MemoryMiB: 8192, VCPUs: 2, Processes: 1024}},
		{"c5.xlarge", Limits{MemoryMiB: 8192, VCPUs: 4, Processes: 2048}},
		{"m1.small", Limits{MemoryMiB: 1740, VCPUs: 1, Processes: 512}}, // EC2's default type
		{"u-6tb1.metal", DefaultLimits},                                 // not in the table
		{"", DefaultLimits},
	} {
		if diff := cmp.Diff(tc.want, LimitsOf(tc.typ)); diff != "" {
			t.Errorf("LimitsOf(%q) (-want +got):\n%s", tc.typ, diff)
		}
	}
	if want := (Limits{MemoryMiB: 1024, VCPUs: 1, Processes: 512}); DefaultLimits != want {
		t.Errorf("DefaultLimits = %+v, the documented default is %+v", DefaultLimits, want)
	}
}

// fakeCgroupFS makes a tree that looks like /sys/fs/cgroup: the files named, empty.
func fakeCgroupFS(t *testing.T, files ...string) string {
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := ""
		if filepath.Base(f) == "cgroup.controllers" {
			data = "cpuset cpu io memory hugetlb pids rdma misc\n"
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDetectCgroups(t *testing.T) {
	// This project's hosts: v1 controllers plus a unified mount without controllers.
	v1 := fakeCgroupFS(t, "memory/cgroup.procs", "pids/cgroup.procs", "cpu/cgroup.procs", "cpuacct/cgroup.procs",
		"unified/cgroup.procs", "unified/cgroup.controllers")
	v2 := fakeCgroupFS(t, "cgroup.controllers", "cgroup.procs", "cgroup.subtree_control")
	noPids := fakeCgroupFS(t, "memory/cgroup.procs", "cpu/cgroup.procs")
	v2NoMem := fakeCgroupFS(t, "cgroup.procs")
	if err := os.WriteFile(filepath.Join(v2NoMem, "cgroup.controllers"), []byte("cpu pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, root string
		want       *Cgroups
		err        string
	}{
		{"v1 with a unified mount", v1, &Cgroups{Root: v1}, ""},
		{"v2", v2, &Cgroups{Root: v2, V2: true}, ""},
		{"v1 without pids", noPids, nil, "no cgroup v1 pids hierarchy"},
		{"v2 without memory", v2NoMem, nil, "lacks the memory controller"},
		{"nothing", t.TempDir(), nil, "no cgroup v1 memory hierarchy"},
	} {
		got, err := DetectCgroups(tc.root)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

// readTree returns every file under root with its contents, by path relative to root.
func readTree(t *testing.T, root string) map[string]string {
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCgroupsCreate(t *testing.T) {
	l := LimitsOf("t3.nano")
	t.Run("v1", func(t *testing.T) {
		root := fakeCgroupFS(t, "memory/cgroup.procs", "pids/cgroup.procs", "cpu/cgroup.procs")
		c := &Cgroups{Root: root}
		dirs, err := c.Create("lab-i-0123", l)
		if err != nil {
			t.Fatal(err)
		}
		wantDirs := []string{root + "/memory/stockade/lab-i-0123", root + "/pids/stockade/lab-i-0123", root + "/cpu/stockade/lab-i-0123"}
		if diff := cmp.Diff(wantDirs, dirs); diff != "" {
			t.Errorf("dirs (-want +got):\n%s", diff)
		}
		want := map[string]string{
			"memory/cgroup.procs": "", "pids/cgroup.procs": "", "cpu/cgroup.procs": "",
			"memory/stockade/lab-i-0123/memory.limit_in_bytes":       "536870912",
			"memory/stockade/lab-i-0123/memory.memsw.limit_in_bytes": "536870912",
			"pids/stockade/lab-i-0123/pids.max":                      "1024",
			"cpu/stockade/lab-i-0123/cpu.cfs_period_us":              "100000",
			"cpu/stockade/lab-i-0123/cpu.cfs_quota_us":               "200000",
		}
		if diff := cmp.Diff(want, readTree(t, root)); diff != "" {
			t.Errorf("files (-want +got):\n%s", diff)
		}
	})
	t.Run("v2", func(t *testing.T) {
		root := fakeCgroupFS(t, "cgroup.controllers", "cgroup.procs")
		c := &Cgroups{Root: root, V2: true}
		dirs, err := c.Create("lab-i-0123", l)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{root + "/stockade/lab-i-0123"}, dirs); diff != "" {
			t.Errorf("dirs (-want +got):\n%s", diff)
		}
		want := map[string]string{
			"cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n", "cgroup.procs": "",
			"cgroup.subtree_control":              "+memory +pids +cpu",
			"stockade/cgroup.subtree_control":     "+memory +pids +cpu",
			"stockade/lab-i-0123/memory.max":      "536870912",
			"stockade/lab-i-0123/memory.swap.max": "0",
			"stockade/lab-i-0123/pids.max":        "1024",
			"stockade/lab-i-0123/cpu.max":         "200000 100000",
		}
		if diff := cmp.Diff(want, readTree(t, root)); diff != "" {
			t.Errorf("files (-want +got):\n%s", diff)
		}
	})
	t.Run("bad names", func(t *testing.T) {
		c := &Cgroups{Root: t.TempDir()}
		for _, ns := range []string{"", ".", "..", "a/b", "../../x"} {
			if _, err := c.Create(ns, l); err == nil {
				t.Errorf("Create(%q) succeeded", ns)
			}
			if err := c.Remove(ns); err == nil {
				t.Errorf("Remove(%q) succeeded", ns)
			}
		}
	})
}

func TestCgroupsList(t *testing.T) {
	root := fakeCgroupFS(t, "memory/stockade/lab-i-1/x", "pids/stockade/lab-i-1/x", "pids/stockade/lab-i-2/x",
		"cpu/stockade/other-i-3/x", "memory/stockade/lab-file")
	got, err := (&Cgroups{Root: root}).List("lab-i-")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"lab-i-1", "lab-i-2"}, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

// TestCgroupsRemoveAll: the groups of the prefix go from every hierarchy; the others stay.
func TestCgroupsRemoveAll(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"memory/stockade/lab-i-1", "pids/stockade/lab-i-1", "pids/stockade/lab-i-2", "cpu/stockade/other-i-3"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := &Cgroups{Root: root}
	if err := c.RemoveAll("lab-"); err != nil {
		t.Fatal(err)
	}
	left, err := c.List("")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"other-i-3"}, left); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
}

// TestCgroupsPlace: the process joins every group of the instance, which has its limits; a
// group it cannot join is an error and leaves no group behind.
func TestCgroupsPlace(t *testing.T) {
	root := fakeCgroupFS(t, "memory/cgroup.procs", "pids/cgroup.procs", "cpu/cgroup.procs")
	c := &Cgroups{Root: root}
	if err := c.Place("lab-i-0123", LimitsOf("t3.nano"), 4242); err != nil {
		t.Fatal(err)
	}
	tree := readTree(t, root)
	for _, ctl := range []string{"memory", "pids", "cpu"} {
		if got := tree[ctl+"/stockade/lab-i-0123/cgroup.procs"]; got != "4242" {
			t.Errorf("%s: cgroup.procs = %q, want the PID", ctl, got)
		}
	}
	if tree["pids/stockade/lab-i-0123/pids.max"] != "1024" {
		t.Errorf("the limits are not set: %v", tree)
	}
	// A controller whose group cannot be written (a directory stands where cgroup.procs is).
	if err := os.MkdirAll(filepath.Join(root, "cpu/stockade/lab-i-0456/cgroup.procs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.Place("lab-i-0456", LimitsOf("t3.nano"), 4242); err == nil {
		t.Error("joining a group that cannot be joined succeeded")
	}
}
