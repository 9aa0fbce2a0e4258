package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// freshBootEnv names, in the test's own subprocess, the prefix of the namespaces it makes.
const freshBootEnv = "NETLAB_TEST_FRESH_BOOT"

// TestKernelNamespacesOutliveIPNetnsAdd: on a host where `ip netns add` has not run since it
// booted, a lab's namespaces can still be removed after it has. The test runs in a
// subprocess in a mount namespace of its own (unshare), where /run/netns is made a plain
// directory again, as after a boot; the host's mounts are not touched.
func TestKernelNamespacesOutliveIPNetnsAdd(t *testing.T) {
	if why := Unavailable(); why != "" {
		t.Skip("kernel tier: " + why)
	}
	prefix := os.Getenv(freshBootEnv)
	if prefix == "" {
		if _, err := exec.LookPath("unshare"); err != nil {
			t.Skip("the unshare binary is missing (apt-get install util-linux)")
		}
		b := make([]byte, 2)
		_, _ = rand.Read(b)
		prefix = "b" + hex.EncodeToString(b)
		t.Cleanup(func() { // a subprocess that died midway leaves plain files here, no mounts
			for _, n := range []string{"-lab", "-ip"} {
				_ = os.Remove(Path(prefix + n))
			}
		})
		cmd := exec.Command("unshare", "--mount", "--propagation", "private", os.Args[0], "-test.run", "^TestKernelNamespacesOutliveIPNetnsAdd$", "-test.v")
		cmd.Env = append(os.Environ(), freshBootEnv+"="+prefix)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("in a mount namespace of its own: %v\n%s", err, out)
		}
		return
	}
	for unix.Unmount(Dir, unix.MNT_DETACH) == nil { // every mount stacked on the directory
	}
	ctx := context.Background()
	lab, other := prefix+"-lab", prefix+"-ip"
	if err := create(lab); err != nil {
		t.Fatal(err)
	}
	defer Remove(ctx, lab)
	if out, err := exec.Command("ip", "netns", "add", other).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	defer exec.Command("ip", "netns", "del", other).Run()
	if err := Remove(ctx, lab); err != nil || Exists(lab) {
		t.Fatalf("removing the lab's namespace after `ip netns add`: %v (still there: %v)", err, Exists(lab))
	}
}
