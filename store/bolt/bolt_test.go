package bolt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/storetest"
)

// TestConformance runs the suite with the default flush interval, with one so long that
// every read finds its keys in the overlay, and with one so short that flushes run among the
// reads.
func TestConformance(t *testing.T) {
	for _, interval := range []time.Duration{0, time.Hour, time.Microsecond} {
		t.Run(fmt.Sprint("flush=", interval), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{FlushInterval: interval})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}

// TestOversizedRefusedAlone: bbolt refuses a key over MaxKeySize inside its transaction,
// which used to fail the whole group commit with an error indistinguishable from a disk
// failure. Check refuses it at Submit with store.ErrInvalid; its neighbours commit.
func TestOversizedRefusedAlone(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	long := strings.Repeat("k", 40000)
	var ps []store.Pending
	for i := 0; i < 30; i++ {
		key := fmt.Sprint("k", i)
		if i%3 == 1 {
			key = long
		}
		ps = append(ps, s.Submit(ctx, nil, []store.Op{{Key: key, Value: []byte("v")}}))
	}
	for i, p := range ps {
		_, err := p.Wait()
		switch {
		case i%3 == 1 && !errors.Is(err, store.ErrInvalid):
			t.Errorf("submission %d with a 40,000-byte key: %v, want ErrInvalid", i, err)
		case i%3 != 1 && err != nil:
			t.Errorf("submission %d failed beside an oversized one: %v", i, err)
		}
	}
	if s.Revision() != 20 {
		t.Errorf("revision %d, want 20", s.Revision())
	}
}

// flush makes s apply what its overlay holds to the bbolt file now, as its flusher does after
// FlushInterval: for the tests that look at the file.
func flush(t testing.TB, s *Store) {
	t.Helper()
	reply := make(chan error)
	s.flushReq <- reply
	if err := <-reply; err != nil {
		t.Fatal(err)
	}
}

func TestCompaction(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{HistoryLimit: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 20; i++ {
		s.Txn(ctx, nil, []store.Op{{Key: "k", Value: []byte{byte(i)}}})
	}
	flush(t, s)
	if _, err := s.Watch(ctx, 3); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("Watch from a compacted revision: %v", err)
	}
	w, err := s.Watch(ctx, 17)
	if err != nil {
		t.Fatalf("Watch from a retained revision: %v", err)
	}
	for want := int64(17); want <= 20; want++ {
		if ev := <-w.C; ev.Revision != want {
			t.Fatalf("event %d, want %d", ev.Revision, want)
		}
	}
}

func TestReopenKeepsRevision(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, _ := Open(path, Options{})
	s.Txn(ctx, nil, []store.Op{{Key: "a", Value: []byte("1")}})
	s.Txn(ctx, nil, []store.Op{{Key: "b", Value: []byte("2")}})
	s.Close()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Revision() != 2 {
		t.Errorf("revision after reopen %d, want 2", s.Revision())
	}
	if rev, _ := s.Txn(ctx, nil, []store.Op{{Key: "c", Value: []byte("3")}}); rev != 3 {
		t.Errorf("next revision %d, want 3", rev)
	}
}

func TestRefusesForeignOrDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	content := []byte(strings.Repeat("not a database ", 1000))
	os.WriteFile(garbage, content, 0o600)
	_, err := Open(garbage, Options{})
	if err == nil || !strings.Contains(err.Error(), garbage) {
		t.Fatalf("garbage file: %v", err)
	}
	if got, _ := os.ReadFile(garbage); string(got) != string(content) {
		t.Error("Open modified a file it refused")
	}
	// A second Open of a file in use fails clearly instead of waiting forever.
	path := filepath.Join(dir, "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(path, Options{OpenTimeout: 50e6}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Open: %v", err)
	}
}

// TestKillNineLosesNothingAcknowledged runs writers in a child process, kills it with SIGKILL
// mid-burst and checks that every revision the child saw acknowledged is in the file. The
// writes are large enough (40 KB) that the burst crosses the log's segments, so that the kill
// may come while a segment is written ahead or rolled.
func TestKillNineLosesNothingAcknowledged(t *testing.T) {
	if os.Getenv("STOCKADE_BOLT_CHILD") != "" {
		childWriter(os.Getenv("STOCKADE_BOLT_CHILD"))
		return
	}
	path := filepath.Join(t.TempDir(), "s.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillNineLosesNothingAcknowledged$")
	cmd.Env = append(os.Environ(), "STOCKADE_BOLT_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]int64{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		rev, _ := strconv.ParseInt(f[1], 10, 64)
		acked[f[0]] = rev
		if len(acked) == 300 {
			cmd.Process.Kill()
			break
		}
	}
	cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("child acknowledged only %d writes", len(acked))
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for k, rev := range acked {
		kv, ok, err := s.Get(context.Background(), k)
		if err != nil || !ok || kv.ModRevision != rev {
			t.Errorf("acknowledged %s@%d lost after kill -9: %+v %v %v", k, rev, kv, ok, err)
		}
	}
}

func childWriter(path string) {
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	value := bytes.Repeat([]byte("v"), 40<<10)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				k := fmt.Sprintf("g%d-%d", g, i)
				rev, err := s.Txn(context.Background(), nil, []store.Op{{Key: k, Value: value}})
				if err != nil {
					os.Exit(3)
				}
				mu.Lock()
				fmt.Printf("%s %d\n", k, rev)
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
}

func BenchmarkTxn(b *testing.B) {
	s, _ := Open(filepath.Join(b.TempDir(), "s.db"), Options{})
	defer s.Close()
	v := make([]byte, 512)
	for i := 0; b.Loop(); i++ {
		if _, err := s.Txn(context.Background(), nil, []store.Op{{Key: fmt.Sprint("k", i), Value: v}}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTxnParallel(b *testing.B) {
	s, _ := Open(filepath.Join(b.TempDir(), "s.db"), Options{})
	defer s.Close()
	v := make([]byte, 512)
	var n sync.Mutex
	i := 0
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n.Lock()
			i++
			k := fmt.Sprint("k", i)
			n.Unlock()
			if _, err := s.Txn(context.Background(), nil, []store.Op{{Key: k, Value: v}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestUnwatched: writes under an Unwatched prefix are stored and read like any other, but the
// history (what watchers receive) leaves them out; a transaction of nothing else is still a
// revision, with no ops, so that revisions stay contiguous.
func TestUnwatched(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{Unwatched: []string{"trail/"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := s.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ops := range [][]store.Op{
		{{Key: "r/a", Value: []byte("1")}, {Key: "trail/e/1", Value: []byte("record")}},
		{{Key: "trail/e/2", Value: []byte("record")}},
		{{Key: "r/b", Value: []byte("2")}},
	} {
		if _, err := s.Txn(ctx, nil, ops); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for i := 0; i < 3; i++ {
		ev := <-w.C
		keys := fmt.Sprint(ev.Revision, ":")
		for _, op := range ev.Ops {
			keys += " " + op.Key
		}
		got = append(got, keys)
	}
	if want := []string{"1: r/a", "2:", "3: r/b"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("watched %q, want %q", got, want)
	}
	if kv, ok, err := s.Get(ctx, "trail/e/2"); err != nil || !ok || string(kv.Value) != "record" || kv.ModRevision != 2 {
		t.Errorf("unwatched key: %+v %v %v", kv, ok, err)
	}
}
