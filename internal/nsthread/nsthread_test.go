package nsthread

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/vishvananda/netns"
)

var errFn = errors.New("fn's own error")

func TestMissingNamespaceIsAnError(t *testing.T) {
	ran := false
	if err := In("/run/netns/stk-nsthread-no-such-namespace", func() error { ran = true; return nil }); err == nil || ran {
		t.Fatalf("In a missing namespace: err %v, ran %v", err, ran)
	}
}

// TestInRunsInsideAndLeavesTheCallerOutside creates a namespace (root only), checks that fn runs
// in it, that fn's error comes back, and that no thread of the caller is left in it.
func TestInRunsInsideAndLeavesTheCallerOutside(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace needs root")
	}
	name := fmt.Sprintf("stk-nsthread-%d", os.Getpid())
	if err := Isolated(func() error {
		h, err := netns.NewNamed(name)
		if err != nil {
			return err
		}
		return h.Close()
	}); err != nil {
		t.Fatal(err)
	}
	defer netns.DeleteNamed(name)
	want, err := netns.GetFromPath("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	for i := range 50 { // many calls: a thread left behind would show up on a later one
		var inside netns.NsHandle
		err := In("/run/netns/"+name, func() error {
			var err error
			if inside, err = netns.Get(); err != nil {
				return err
			}
			return errFn
		})
		if !errors.Is(err, errFn) {
			t.Fatalf("call %d: err %v, want fn's own", i, err)
		}
		if !inside.Equal(want) {
			t.Fatalf("call %d: fn ran in %v, not in %s", i, inside, name)
		}
		inside.Close()
		now, _ := netns.Get()
		if !now.Equal(host) {
			t.Fatalf("call %d: the caller's thread is in %v afterwards", i, now)
		}
		now.Close()
	}
}
