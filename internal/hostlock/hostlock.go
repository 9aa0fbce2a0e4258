// Package hostlock serializes tests that change what a host has only one of, such as the
// root namespace's route to the lab's internet host (netlab's host link): `go test ./...`
// runs several packages' test binaries at once, and two such tests in different packages
// would otherwise meet. The lock is a file under the temporary directory, held with flock:
// the kernel releases it when its holder exits, even killed.
package hostlock

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// HostLink is the lock of tests that make a host link (netlab.EnsureHostLink, a server with
// --internet-allow): its routes in the root namespace are the host's only ones.
const HostLink = "hostlink"

// Hold takes the host-wide lock called name, waiting while another process or test holds it,
// and returns its release.
func Hold(name string) (release func(), err error) {
	path := filepath.Join(os.TempDir(), "stockade-"+name+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("hostlock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("hostlock %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}
