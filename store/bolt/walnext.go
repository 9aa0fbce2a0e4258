package bolt

// The log's next segment, written ahead. An fdatasync after an append that grows a file must
// also write the file's new size (its inode), and ext4 does that as a second write; an append
// into blocks that already hold zeros needs only the data's own. So the next segment is
// created, filled with zeros to walSegmentBytes and made durable in the background while the
// current one fills, and a roll renames it into place. Under a loop of authorizes from 8
// clients this took the commit's fdatasync from 0.80–1.0 ms to 0.43–0.60 ms (BENCHMARKS.md,
// "The log's segments written ahead").
//
// What the zeros mean to a reader: a frame is never empty (its payload starts with the count
// of its transactions), so a zero header, which reads as an empty frame with a good checksum,
// is where the segment's appends end. openWAL stops there.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// walNextName is the next segment while it is written; it is not a *.wal name, so a crash
// meanwhile leaves a file that openWAL deletes and never reads.
const walNextName = "next.tmp"

// prepareAfter is how much of the current segment is written before the next one is
// prepared: a store that writes little (most tests, a quiet server) never pays for one.
const prepareAfter = walSegmentBytes / 4

// nextSegment is a segment being prepared in the background.
type nextSegment struct {
	done chan struct{}
	f    *os.File // set before done closes; nil when the preparation failed
}

// prepare starts writing the next segment, once the current one is far enough along and
// none is being prepared.
func (w *wal) prepare() {
	if w.next != nil || w.size < prepareAfter {
		return
	}
	n := &nextSegment{done: make(chan struct{})}
	w.next = n
	go func() {
		defer close(n.done)
		// A failure (a full disk, say) only costs the next segment its zeros: the roll then
		// starts it empty, and a commit that cannot be written fails there as it would have.
		n.f, _ = zeroFilled(filepath.Join(w.dir, walNextName), walSegmentBytes)
	}()
}

// zeroFilled creates path holding size zero bytes, durably. It writes them a page at a time:
// the page cache keeps a file's pages in folios as large as the writes that made them (Linux
// 6.x on ext4), and an append into a page of a 1 MiB folio then has the fdatasync write the
// whole megabyte. Written in 1 MiB pieces, the log wrote about 1 MB for each commit of a few
// kilobytes (/proc/PID/io's write_bytes, 1,000 appends and fsyncs).
func zeroFilled(path string, size int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	zeros := make([]byte, os.Getpagesize())
	for off := 0; off < size && err == nil; off += len(zeros) {
		_, err = f.WriteAt(zeros[:min(len(zeros), size-off)], int64(off))
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return nil, errors.Join(err, os.Remove(path))
	}
	return f, nil
}

// waitNext waits for the segment being prepared, if any, and returns it; nil when none was
// being prepared or its preparation failed (a full disk, say).
func (w *wal) waitNext() *os.File {
	n := w.next
	if n == nil {
		return nil
	}
	w.next = nil
	<-n.done
	return n.f
}

// takeNext renames the segment being prepared to name and returns it; nil when there is none:
// the caller then starts an empty segment, as a log without this would.
func (w *wal) takeNext(name string) *os.File {
	f := w.waitNext()
	if f == nil {
		return nil
	}
	if err := os.Rename(filepath.Join(w.dir, walNextName), filepath.Join(w.dir, name)); err != nil {
		f.Close()
		return nil
	}
	return f
}

// dropNext abandons the segment being prepared, if any (Close, and a restart).
func (w *wal) dropNext() error {
	f := w.waitNext()
	if f == nil {
		return nil
	}
	f.Close()
	if err := os.Remove(filepath.Join(w.dir, walNextName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store log: %w", err)
	}
	return nil
}
