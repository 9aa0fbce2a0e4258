package bolt

// The write-ahead log. A commit appends its group of transactions to the log as one frame and
// fsyncs the log once; the bbolt file takes the transactions later, many commits at a time
// (flush.go), and until then readers find them in memory (overlay.go). This is etcd's shape:
// its raft log is fsynced per request, its bbolt backend committed every 100 ms.
//
// Why: a bbolt commit rewrites every B-tree page it touches, copy-on-write, and fsyncs twice
// (the pages, then the meta page). A group of three or four API calls wrote 16–18 pages, and
// the committer, busy back to back at about 2 ms a commit, was what bounded durable writes
// (BENCHMARKS.md, "Why authorize stays at 10×"). An append of the same transactions is a few
// kilobytes and one fsync; the pages are written once per flush for hundreds of transactions.
//
// The log is a directory of segment files, each named by the first revision it holds (hex),
// each a sequence of frames (internal/frame). A frame is one commit: uvarint(count), then per
// transaction uvarint(revision) ‖ uvarint(len) ‖ its ops (encodeOps). A new segment starts
// once the current one is past walSegmentBytes, into a file written ahead with zeros
// (walnext.go); segments whose every revision the bbolt file holds are deleted then. On Open,
// the transactions after the bbolt file's revision are applied to it, and the log starts
// over.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/internal/frame"
	"github.com/stockade/stockade/store"
)

// walSegmentBytes is the size past which the log starts a new segment file, and the size of
// a segment written ahead (walnext.go): small enough that a store which writes a few
// megabytes pays little for writing one ahead, large enough that a roll (a rename and a
// directory fsync) comes once in about two thousand transactions of an API call each.
const walSegmentBytes = 4 << 20

// wal is the log; only the committer appends to it (Open and Close own it alone).
type wal struct {
	dir  string
	f    *os.File // the newest segment, appended to
	size int64    // bytes written to f
	segs []int64  // the first revision of each segment on disk, oldest first; the last is f's
	buf  []byte
	next *nextSegment // the next segment, being written ahead (walnext.go); nil if none
}

func walSegmentName(first int64) string { return fmt.Sprintf("%016x.wal", first) }

// walTxn is one committed transaction as the log holds it.
type walTxn struct {
	rev int64
	ops []store.Op
}

// openWAL opens the log in dir and returns the transactions it holds after revision after,
// in order. A damaged frame at the end of the newest segment is a torn append, never
// acknowledged (an append returns after its fsync), and is cut off; damage anywhere else, or a
// gap in the revisions, is an error: transactions that were acknowledged would be lost.
func openWAL(dir string, after int64) (*wal, []walTxn, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("store log: %w", err)
	}
	// The directory's own entry, durable before a commit is acknowledged in it (on a first
	// start it was just made).
	if err := frame.SyncDir(filepath.Dir(dir)); err != nil {
		return nil, nil, fmt.Errorf("store log: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		return nil, nil, fmt.Errorf("store log: %w", err)
	}
	// A next segment a crash left half written (walnext.go): never a segment yet.
	if err := os.Remove(filepath.Join(dir, walNextName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("store log: %w", err)
	}
	w := &wal{dir: dir}
	for _, name := range names {
		first, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(name), ".wal"), 16, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("store log: unexpected file %s", name)
		}
		w.segs = append(w.segs, first)
	}
	slices.Sort(w.segs)
	var txs []walTxn
	next := after + 1
	for i, first := range w.segs {
		path := filepath.Join(dir, walSegmentName(first))
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("store log: %w", err)
		}
		r := bytes.NewReader(data)
		for {
			off := len(data) - r.Len()
			payload, err := frame.Read(r, nil, len(data))
			if err == io.EOF {
				break
			}
			if err == nil && len(payload) == 0 {
				// The zeros a segment was written ahead with (walnext.go): its appends end
				// here, unless a commit follows (below).
				err = errAppendsEnd
			}
			var got []walTxn
			if err == nil {
				got, err = decodeCommit(payload)
			}
			if err != nil {
				if i < len(w.segs)-1 {
					return nil, nil, fmt.Errorf("store log %s is damaged at offset %d (%v): the transactions after it cannot be recovered; refusing to start without them", path, off, err)
				}
				// A torn append is the last thing a segment holds: a whole commit after the
				// damage means the damage is to acknowledged transactions, not a tear.
				if at := commitAfter(data, off+1); at >= 0 {
					return nil, nil, fmt.Errorf("store log %s is damaged at offset %d (%v), and a whole commit follows at offset %d: the transactions in between cannot be recovered; refusing to start without them", path, off, err, at)
				}
				if err := os.Truncate(path, int64(off)); err != nil {
					return nil, nil, fmt.Errorf("store log: cutting the torn end of %s: %w", path, err)
				}
				break
			}
			for _, t := range got {
				switch {
				case t.rev < next:
					continue // in the bbolt file already
				case t.rev > next:
					return nil, nil, fmt.Errorf("store log %s holds revision %d where %d was expected: it does not follow the store file", path, t.rev, next)
				}
				txs = append(txs, t)
				next++
			}
		}
	}
	return w, txs, nil
}

// restart deletes every segment (the bbolt file holds all they had, durably) and starts an
// empty one for the revisions after rev.
func (w *wal) restart(rev int64) error {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if err := w.dropNext(); err != nil {
		return err
	}
	for _, first := range w.segs {
		if err := os.Remove(filepath.Join(w.dir, walSegmentName(first))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("store log: %w", err)
		}
	}
	w.segs = nil
	return w.roll(rev + 1)
}

// roll starts the segment whose first revision is first: the one written ahead, if there is
// one (walnext.go), else an empty file.
func (w *wal) roll(first int64) error {
	f := w.takeNext(walSegmentName(first))
	if f == nil {
		var err error
		if f, err = os.OpenFile(filepath.Join(w.dir, walSegmentName(first)), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return fmt.Errorf("store log: %w", err)
		}
	}
	if err := frame.SyncDir(w.dir); err != nil {
		f.Close()
		return fmt.Errorf("store log: %w", err)
	}
	if w.f != nil {
		w.f.Close()
	}
	w.f, w.size = f, 0
	w.segs = append(w.segs, first)
	return nil
}

// prune deletes the segments older than the newest whose every revision is at most flushed.
func (w *wal) prune(flushed int64) {
	for len(w.segs) > 1 && w.segs[1]-1 <= flushed {
		os.Remove(filepath.Join(w.dir, walSegmentName(w.segs[0]))) // a failure only leaves it to the next Open, which skips it
		w.segs = w.segs[1:]
	}
}

// append writes one commit's transactions and returns once they are durable. flushed is the
// bbolt file's revision, for pruning when a new segment starts.
func (w *wal) append(txs []*ovTxn, flushed int64) error {
	if w.size >= walSegmentBytes {
		if err := w.roll(txs[0].rev); err != nil {
			return err
		}
		w.prune(flushed)
	}
	// The frame's size is known before it is written: a buffer of that size at once, rather
	// than one grown by doubling, which for a large commit (an audit's history, thousands of
	// entries) copied the frame several times and touched new memory each time.
	size := frame.Header + uvarintLen(len(txs))
	for _, t := range txs {
		n := opsLen(t.ops)
		size += uvarintLen(int(t.rev)) + uvarintLen(n) + n
	}
	buf, start := frame.Start(slices.Grow(w.buf[:0], size))
	buf = binary.AppendUvarint(buf, uint64(len(txs)))
	for _, t := range txs {
		buf = binary.AppendUvarint(buf, uint64(t.rev))
		buf = binary.AppendUvarint(buf, uint64(opsLen(t.ops)))
		buf = appendOps(buf, t.ops)
	}
	if err := frame.Seal(buf, start, math.MaxInt32); err != nil {
		return fmt.Errorf("store log: %w", err)
	}
	if cap(buf) <= 1<<20 {
		w.buf = buf // kept for the next commit, unless a large one grew it
	}
	// Written at the end of what was written, not appended: after a failed write or fsync the
	// next commit overwrites whatever part of this one reached the file.
	_, err := w.f.WriteAt(buf, w.size)
	if err == nil {
		err = unix.Fdatasync(int(w.f.Fd()))
	}
	if err != nil {
		w.f.Truncate(w.size)
		return fmt.Errorf("store log: %w", err)
	}
	w.size += int64(len(buf))
	w.prepare()
	return nil
}

func (w *wal) close() error {
	err := w.dropNext()
	if w.f == nil {
		return err
	}
	return errors.Join(err, w.f.Close())
}

// errAppendsEnd is the zero header that ends a segment's appends.
var errAppendsEnd = errors.New("store log: the end of the appends")

// commitAfter returns the offset of the first whole commit frame (its length and checksum
// right, its payload a commit) that starts at from or later in data, or -1.
func commitAfter(data []byte, from int) int {
	for j := from; j+frame.Header < len(data); j++ {
		n := int(binary.LittleEndian.Uint32(data[j:]))
		if n == 0 || n > len(data)-j-frame.Header {
			continue
		}
		if payload, err := frame.Check(data[j : j+frame.Header+n]); err == nil {
			if _, err := decodeCommit(payload); err == nil {
				return j
			}
		}
	}
	return -1
}

// decodeCommit decodes one frame's transactions.
func decodeCommit(b []byte) ([]walTxn, error) {
	bad := errors.New("store log: corrupt commit")
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, bad
	}
	b = b[k:]
	out := make([]walTxn, 0, n)
	for range n {
		rev, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, bad
		}
		b = b[k:]
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, bad
		}
		ops, err := decodeOps(b[k : k+int(l)])
		if err != nil {
			return nil, err
		}
		b = b[k+int(l):]
		out = append(out, walTxn{rev: int64(rev), ops: ops})
	}
	if len(b) != 0 {
		return nil, bad
	}
	return out, nil
}
