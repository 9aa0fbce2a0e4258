// Package nsthread runs code on an operating-system thread that is inside another network
// namespace. A namespace belongs to a thread, not to a goroutine, so the work is done on a
// goroutine of its own, locked to its thread: what fn opens (a socket) or starts (a process:
// a child inherits its thread's namespace) belongs to the namespace. When the thread cannot be
// brought back to the namespace it came from, the goroutine exits still locked, and the Go
// runtime then ends that thread instead of reusing it: the failure is an error, never a
// goroutine of the caller's left running in the wrong namespace (which is why this is not a
// panic, as it was in two copies of this code before).
package nsthread

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// In runs fn on a thread inside the namespace at path (a file under /run/netns, or
// /proc/PID/ns/net) and returns fn's error.
func In(path string, fn func() error) error {
	return Isolated(func() error {
		h, err := netns.GetFromPath(path)
		if err != nil {
			return fmt.Errorf("namespace %s: %w", path, err)
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			return fmt.Errorf("enter namespace %s: %w", path, err)
		}
		return fn()
	})
}

// Isolated runs fn on a thread of its own that fn may move into another namespace (as
// netns.NewNamed does), and returns the thread to the namespace it started in afterwards.
func Isolated(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Exit locked: the runtime ends this thread rather than reuse it elsewhere.
			errc <- fmt.Errorf("cannot return the thread from its namespace (the thread is discarded): %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
