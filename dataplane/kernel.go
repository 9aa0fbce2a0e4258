package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
)

// Kernel applies transactions to, and reads back, the Stockade table of a router namespace.
type Kernel interface {
	// Apply runs one nft transaction in the namespace: all of it takes effect or none does.
	Apply(ctx context.Context, ns, tx string) error
	// Generation is the namespace's ruleset generation, which every committed transaction,
	// by anyone, increments.
	Generation(ns string) (uint32, error)
}

// NFT is the real Kernel: the nft binary run inside the namespace, except for the in-place
// updates it sends as a netlink batch of its own (netlink.go). A transaction's nft is
// started from a thread that has entered the namespace (a child inherits it), rather than
// through nsenter: one program started instead of two, about a millisecond of every change
// on an idle machine and several on a busy one. (knftables, the library style.md names, runs
// nft in the caller's own namespace only and has no ct timeout objects, so the few lines it
// would save are written here.)
type NFT struct {
	// Path is the nft binary; empty means "nft" from PATH.
	Path string
	// NSDir is where named namespaces are mounted (netlab.Dir).
	NSDir string
	// NFTOnly sends every transaction through nft, even those NFT would send over netlink
	// itself (netlink.go): for comparison.
	NFTOnly bool
}

func (k NFT) cmd(ctx context.Context, ns string, args ...string) *exec.Cmd {
	nft := k.Path
	if nft == "" {
		nft = "nft"
	}
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + k.NSDir + "/" + ns, "--", nft}, args...)...)
}

// Apply implements Kernel.
func (k NFT) Apply(ctx context.Context, ns, tx string) error {
	if ops, ok := compileNetlink(tx); ok && !k.NFTOnly {
		if err := k.sendNetlink(ns, tx, ops); err != nil {
			return fmt.Errorf("nf_tables transaction in %s: %w: %s", ns, err, firstLines(tx, 6))
		}
		return nil
	}
	c := exec.CommandContext(ctx, k.nft(), "-f", "-")
	c.Stdin = strings.NewReader(tx)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	err := k.in(ns, c.Start)
	if err == nil {
		err = c.Wait()
	}
	if err != nil {
		return fmt.Errorf("nft transaction in %s: %w: %s", ns, err, firstLines(stderr.String(), 6))
	}
	return nil
}

// List returns `nft list table` of the Stockade table (what the kernel holds now).
func (k NFT) List(ctx context.Context, ns string) (string, error) {
	c := k.cmd(ctx, ns, "list", "table", "inet", "stockade")
	var out, stderr bytes.Buffer
	c.Stdout, c.Stderr = &out, &stderr
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("nft list in %s: %w: %s", ns, err, firstLines(stderr.String(), 3))
	}
	return out.String(), nil
}

// Check tells whether this host can run the data plane, naming what is missing: the nsenter
// and nft binaries, and nftables support in the kernel (tried on a throwaway table in the
// host's own namespace, removed at once).
func (k NFT) Check(ctx context.Context) error {
	for _, bin := range []string{"nsenter", k.nft()} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("enforcement needs %s (Debian package %s): %w", bin, pkgOf(bin), err)
		}
	}
	probe := "table inet stockade_probe {}\ndelete table inet stockade_probe\n"
	c := exec.CommandContext(ctx, k.nft(), "-f", "-")
	c.Stdin = strings.NewReader(probe)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("the kernel refused an nftables table (no nf_tables support, or not root?): %w: %s", err, firstLines(stderr.String(), 3))
	}
	return nil
}

func (k NFT) nft() string {
	if k.Path == "" {
		return "nft"
	}
	return k.Path
}

func pkgOf(bin string) string {
	if bin == "nsenter" {
		return "util-linux"
	}
	return "nftables"
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}

// Fake is an in-memory Kernel for tests: it keeps every transaction and a per-namespace
// generation that Edit bumps, as someone changing the ruleset by hand would. Fail makes the
// next applies fail.
type Fake struct {
	mu      sync.Mutex
	Applied map[string][]string
	gen     map[string]uint32
	Fail    int
}

// ErrFake is what a failing Fake returns.
var ErrFake = errors.New("fake kernel: transaction refused")

// Apply implements Kernel: it records tx and bumps the generation.
func (f *Fake) Apply(_ context.Context, ns, tx string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Fail > 0 {
		f.Fail--
		return ErrFake
	}
	if f.Applied == nil {
		f.Applied, f.gen = map[string][]string{}, map[string]uint32{}
	}
	f.Applied[ns] = append(f.Applied[ns], tx)
	f.gen[ns]++
	return nil
}

// Generation implements Kernel.
func (f *Fake) Generation(ns string) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gen[ns], nil
}

// Edit is someone else's transaction in the namespace.
func (f *Fake) Edit(ns string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen[ns]++
}

// Transactions returns the transactions applied in a namespace.
func (f *Fake) Transactions(ns string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.Applied[ns]...)
}
