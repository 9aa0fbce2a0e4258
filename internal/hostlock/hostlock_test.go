package hostlock

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHoldWaits: a second holder waits until the first releases, and then holds the lock.
func TestHoldWaits(t *testing.T) {
	name := fmt.Sprintf("test-%d", time.Now().UnixNano())
	t.Cleanup(func() { os.Remove(filepath.Join(os.TempDir(), "stockade-"+name+".lock")) })
	release, err := Hold(name)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		r, err := Hold(name)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	select {
	case <-got:
		t.Fatal("a second holder did not wait")
	case <-time.After(100 * time.Millisecond):
	}
	release()
	select {
	case r := <-got:
		r()
	case <-time.After(10 * time.Second):
		t.Fatal("the second holder never got the lock")
	}
}
