package trail

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stockade/stockade/internal/atomicfile"
	"github.com/stockade/stockade/internal/frame"
)

// Log is where the trail's records live: an append-only log of segment files in a directory
// of its own, with the lookup index (index.go) in memory.
//
// Records are immutable and read far less often than they are written, so they are not kept
// in the state store, whose B-tree would place each record's index keys at random pages of
// every change's transaction (BENCHMARKS.md, "The change trail"). Appending costs a write and
// an fsync per batch of records; a lookup, one read per record returned; pruning, deleting
// whole segment files. The store keeps only the outbox of records that changes committed
// and the log has not yet taken (storage.go).
//
// A segment is a sequence of frames: u32 length ‖ u32 CRC-32C of the payload ‖ payload, the
// payload an encoded entry (entry.go). A torn frame at the end of the newest segment (a
// crash in the middle of an append) is cut off when the log is opened: it was never
// acknowledged, because an append returns only after its fsync.
type Log struct {
	dir  string
	opts LogOptions

	wmu     sync.Mutex // serializes appends
	idMu    sync.Mutex // serializes ID's first choice, without waiting for a deferred read
	buf     []byte
	appends int // appends written (under wmu): what the batching tests count

	mu     sync.RWMutex                      // guards what follows; appends take it only to publish
	segs   []*segment                        // oldest first; the last is the one appended to
	scopes map[string]map[string]*scopeIndex // account → region → index
	bytes  int64                             // the size of every segment
	closed bool
	broken error // why a deferred read of the segments failed (LogOptions.After): every call fails

	abort     chan struct{} // closed by Close: a deferred read still waiting for After gives up
	abortOnce sync.Once
}

// LogOptions tunes a Log; the zero value gives the defaults.
type LogOptions struct {
	// SegmentBytes is the size at which a new segment is started (default 64 MiB): the unit
	// in which records are pruned.
	SegmentBytes int64
	// MaxBytes bounds the whole log (default 4 GiB): past it, the oldest segments are
	// deleted before their 90 days, so that no amount of calls can fill the disk.
	MaxBytes int64
	Logger   *slog.Logger
	// Shared says that the store beside the Log is shared by several API servers, each with a
	// Log of its own (replica.go): the export's cursor, a place in this Log, is then kept
	// under the Log's ID.
	Shared bool
	// After, when not nil, defers reading the segments and building the index: OpenLog
	// returns once the segment files are open, and a goroutine of the Log's reads them when
	// After is closed. Every call on the Log waits until then. A server's start gives the
	// moment its state has loaded, so that the two long reads of a start do not share the
	// CPUs: the API serves while the trail is read (BENCHMARKS.md, "seventeenth session").
	// The one failure left for that read, cutting off a torn append, is logged and makes
	// every later call fail.
	After <-chan struct{}
}

type segment struct {
	seq     uint32
	f       *os.File
	size    int64 // bytes written
	synced  int64 // bytes known durable (fsynced)
	maxTime int64 // the newest record's eventTime
}

const (
	frameHeader = frame.Header
	maxFrame    = 4 << 20 // far above any record (§1.1 caps responseElements at 100 KB)
)

func segmentName(seq uint32) string { return fmt.Sprintf("%016x.log", seq) }

// OpenLog opens the log in dir, creating the directory when it does not exist, and rebuilds
// its index.
func OpenLog(dir string, opts LogOptions) (*Log, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 4 << 30
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("trail log: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, fmt.Errorf("trail log: %w", err)
	}
	l := &Log{dir: dir, opts: opts, scopes: map[string]map[string]*scopeIndex{}}
	var seqs []uint32
	for _, name := range names {
		seq, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), ".log"), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("trail log: unexpected file %s", name)
		}
		seqs = append(seqs, uint32(seq))
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		f, err := os.OpenFile(filepath.Join(dir, segmentName(seq)), os.O_RDWR, 0o600)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("trail log: %w", err)
		}
		l.segs = append(l.segs, &segment{seq: seq, f: f})
	}
	if len(l.segs) == 0 {
		if err := l.roll(); err != nil {
			return nil, err
		}
		return l, nil
	}
	if opts.After == nil {
		if err := l.load(); err != nil {
			l.Close()
			return nil, err
		}
		return l, nil
	}
	// The locks are held from here until the segments are read: every call waits for them.
	l.abort = make(chan struct{})
	l.wmu.Lock()
	l.mu.Lock()
	go func() {
		defer l.wmu.Unlock()
		defer l.mu.Unlock()
		select {
		case <-opts.After:
		case <-l.abort:
			return
		}
		if err := l.load(); err != nil {
			l.broken = err
			opts.Logger.Error("trail log: cannot be read; lookups and the export fail, and the records of changes wait in the store's outbox", "error", err)
		}
	}()
	return l, nil
}

// load reads the open segments and indexes their records; the caller holds wmu and mu, or
// owns l alone.
func (l *Log) load() error {
	for i, seg := range l.segs {
		if err := l.loadSegment(seg, i == len(l.segs)-1); err != nil {
			return err
		}
	}
	return nil
}

// truncateFile cuts a segment file (a variable: the tests make it fail).
var truncateFile = (*os.File).Truncate

// loadSegment indexes the records of seg, an open segment not read yet. In the newest
// segment (last), a damaged frame and what follows it is a torn append and is cut off; in an
// older one it is damage, reported in the log, and the records after it are left unread.
func (l *Log) loadSegment(seg *segment, last bool) error {
	f, seq := seg.f, seg.seq
	r := bufio.NewReaderSize(f, 1<<20)
	var (
		payload []byte
		err     error
	)
	for {
		payload, err = frame.Read(r, payload, maxFrame)
		if err == io.EOF {
			break
		}
		var h header
		if err == nil {
			h, err = decodeHeader(payload)
		}
		if err != nil {
			l.damaged(seg, last, err.Error())
			break
		}
		n := uint32(len(payload))
		l.index(seg, &h, position{seg: seq, off: uint32(seg.size), n: frameHeader + n})
		seg.size += int64(frameHeader + n)
	}
	if last {
		if err := truncateFile(f, seg.size); err != nil {
			return fmt.Errorf("trail log: cutting the torn end of %s: %w", filepath.Join(l.dir, segmentName(seq)), err)
		}
	}
	seg.synced = seg.size
	l.bytes += seg.size
	return nil
}

func (l *Log) damaged(seg *segment, last bool, what string) {
	if last {
		l.opts.Logger.Warn("trail log: cutting a torn append", "segment", segmentName(seg.seq), "offset", seg.size, "reason", what)
		return
	}
	l.opts.Logger.Error("trail log: damaged segment, records after the damage are not read",
		"segment", segmentName(seg.seq), "offset", seg.size, "reason", what)
}

// index adds the record h, stored at pos, to the index; the caller holds mu or owns l alone.
func (l *Log) index(seg *segment, h *header, pos position) {
	regions := l.scopes[string(h.fields[hAccount])]
	if regions == nil {
		regions = map[string]*scopeIndex{}
		l.scopes[string(h.fields[hAccount])] = regions
	}
	x := regions[string(h.fields[hRegion])]
	if x == nil {
		x = newScopeIndex()
		regions[string(h.fields[hRegion])] = x
	}
	if !x.add(h, pos) {
		l.opts.Logger.Error("trail log: the index of the account and region is full (maxRefs); the record is kept and exported but lookups miss it",
			"account", string(h.fields[hAccount]), "region", string(h.fields[hRegion]))
	}
	seg.maxTime = max(seg.maxTime, h.time)
}

// roll starts a new segment; the caller holds wmu and mu, or owns l alone.
func (l *Log) roll() error {
	seq := uint32(0)
	if n := len(l.segs); n > 0 {
		seq = l.segs[n-1].seq + 1
	}
	f, err := os.OpenFile(filepath.Join(l.dir, segmentName(seq)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("trail log: %w", err)
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return err
	}
	l.segs = append(l.segs, &segment{seq: seq, f: f})
	return nil
}

func syncDir(dir string) error {
	if err := frame.SyncDir(dir); err != nil {
		return fmt.Errorf("trail log: %w", err)
	}
	return nil
}

var errLogClosed = errors.New("trail log: closed")

// usable is the error of a call on a closed Log or one whose deferred read failed; the
// caller holds mu.
func (l *Log) usable() error {
	if l.closed {
		return errLogClosed
	}
	return l.broken
}

// append writes entries to the log and returns once they are durable and indexed. It fails
// for an entry that cannot be stored (an eventID longer than a UUID) without writing any.
func (l *Log) append(entries []*entry) error { return l.write(entries, true) }

// appendUnsynced is append without the fsync: the entries are indexed and readable at once,
// and durable after the next Sync. The Recorder syncs once a second, and always before it
// lets go of the staged records the entries complete: a record of a change is never only in
// the page cache with its staged form gone, and the disk sees one fsync a second for the
// trail rather than one per batch, taken from the commits of the store beside it.
func (l *Log) appendUnsynced(entries []*entry) error { return l.write(entries, false) }

// Sync makes everything appended so far durable.
func (l *Log) Sync() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.RLock()
	err, seg := l.usable(), l.segs[len(l.segs)-1]
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	return l.syncSegment(seg)
}

// syncSegment fsyncs seg if it holds unsynced bytes; the caller holds wmu.
func (l *Log) syncSegment(seg *segment) error {
	if seg.synced == seg.size {
		return nil
	}
	size := seg.size
	if err := seg.f.Sync(); err != nil {
		return fmt.Errorf("trail log: %w", err)
	}
	seg.synced = size
	return nil
}

func (l *Log) write(entries []*entry, sync bool) error {
	if len(entries) == 0 {
		return nil
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	for _, e := range entries {
		if len(e.EventID) > maxEventID {
			return fmt.Errorf("trail log: eventID %.64q longer than %d bytes", e.EventID, maxEventID)
		}
	}
	l.mu.RLock()
	err, seg := l.usable(), l.segs[len(l.segs)-1]
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	if seg.size >= l.opts.SegmentBytes {
		if err := l.syncSegment(seg); err != nil { // a segment is whole on disk before the next starts
			return err
		}
		l.mu.Lock()
		err := l.roll()
		seg = l.segs[len(l.segs)-1]
		l.mu.Unlock()
		if err != nil {
			return err
		}
	}
	buf := l.buf[:0]
	poss := make([]position, len(entries))
	for i, e := range entries {
		var start int
		buf, start = frame.Start(buf)
		buf = e.encode(buf)
		if err := frame.Seal(buf, start, maxFrame); err != nil {
			return fmt.Errorf("trail log: record %s: %w", e.EventID, err)
		}
		poss[i] = position{seg: seg.seq, off: uint32(seg.size) + uint32(start), n: uint32(len(buf) - start)}
	}
	l.buf = buf
	// Written at the end of what was written, not appended: after a failed write or fsync,
	// the next append overwrites whatever part of this one reached the file (cut off here, if
	// the disk lets us, so that nothing of it outlives a later, shorter append).
	_, err = seg.f.WriteAt(buf, seg.size)
	if err == nil && sync {
		err = seg.f.Sync()
	}
	if err != nil {
		seg.f.Truncate(seg.size)
		return fmt.Errorf("trail log: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, pos := range poss {
		start := pos.off - uint32(seg.size)
		h, _ := decodeHeader(buf[start+frameHeader : start+pos.n]) // encoded just above: it decodes
		l.index(seg, &h, pos)
	}
	seg.size += int64(len(buf))
	if sync {
		seg.synced = seg.size
	}
	l.bytes += int64(len(buf))
	l.appends++
	return nil
}

// segmentOf returns the open segment seq, or nil when it was pruned; the caller holds mu.
func (l *Log) segmentOf(seq uint32) *segment {
	i, ok := slices.BinarySearchFunc(l.segs, seq, func(s *segment, seq uint32) int { return int(s.seq) - int(seq) })
	if !ok {
		return nil
	}
	return l.segs[i]
}

// read returns the entry at pos; ok is false when its segment was pruned. The caller holds
// mu (read side), which keeps the segment open.
func (l *Log) read(pos position) (e *entry, ok bool, err error) {
	seg := l.segmentOf(pos.seg)
	if seg == nil {
		return nil, false, nil
	}
	b := make([]byte, pos.n)
	if _, err := seg.f.ReadAt(b, int64(pos.off)); err != nil {
		return nil, false, fmt.Errorf("trail log: %w", err)
	}
	payload, err := frame.Check(b)
	if err != nil {
		return nil, false, fmt.Errorf("trail log: %s at %d: %w", segmentName(pos.seg), pos.off, errEntry)
	}
	e, err = decodeEntry(payload)
	if err != nil {
		return nil, false, err
	}
	return e, true, nil
}

// find answers one page of a lookup: up to q.limit entries, newest first, and whether more
// follow.
func (l *Log) find(q query) (entries []*entry, more bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usable(); err != nil {
		return nil, false, err
	}
	x := l.scopes[q.account][q.region]
	if x == nil {
		return nil, false, nil
	}
	for _, s := range x.find(q) {
		if len(entries) == q.limit {
			return entries, true, nil
		}
		e, ok, err := l.read(s.pos)
		if err != nil {
			return nil, false, err
		}
		if ok {
			e.pos = s.pos
			entries = append(entries, e)
		}
	}
	return entries, false, nil
}

// contains reports whether the record of account, region, time and eventID is in the log.
func (l *Log) contains(account, region string, time int64, id string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	x := l.scopes[account][region]
	return x != nil && x.contains(time, id)
}

// Cursor is a place in the log, in append order: where an export continues.
type Cursor struct{ Seg, Off uint32 }

// String is the cursor's stored form, which ParseCursor reads.
func (c Cursor) String() string { return fmt.Sprintf("%d:%d", c.Seg, c.Off) }

// ParseCursor reads a Cursor's String.
func ParseCursor(s string) (Cursor, error) {
	a, b, ok := strings.Cut(s, ":")
	seg, err1 := strconv.ParseUint(a, 10, 32)
	off, err2 := strconv.ParseUint(b, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return Cursor{}, fmt.Errorf("trail log: cursor %q", s)
	}
	return Cursor{Seg: uint32(seg), Off: uint32(off)}, nil
}

// since returns up to limit entries appended after c, in append order, and the cursor after
// the last of them. Records of pruned segments are skipped.
func (l *Log) since(c Cursor, limit int) ([]*entry, Cursor, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usable(); err != nil {
		return nil, c, err
	}
	var out []*entry
	for _, seg := range l.segs {
		if seg.seq < c.Seg {
			continue
		}
		if seg.seq > c.Seg {
			c = Cursor{Seg: seg.seq}
		}
		for int64(c.Off) < seg.size && len(out) < limit {
			var hdr [frameHeader]byte
			if _, err := seg.f.ReadAt(hdr[:], int64(c.Off)); err != nil {
				return nil, c, fmt.Errorf("trail log: %w", err)
			}
			e, _, err := l.read(position{seg: seg.seq, off: c.Off, n: frameHeader + binary.LittleEndian.Uint32(hdr[:4])})
			if err != nil {
				return nil, c, err
			}
			out = append(out, e)
			c.Off += frameHeader + binary.LittleEndian.Uint32(hdr[:4])
		}
		if len(out) == limit {
			break
		}
	}
	return out, c, nil
}

// Prune deletes the segments whose every record is older than now − Retention, and the
// oldest ones while the log is larger than its MaxBytes, and reports how many records it
// deleted. The segment being appended to is first closed (a new one started) when it is
// entirely past retention, so that a quiet server prunes too.
func (l *Log) Prune(now time.Time) (deleted int, err error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	cutoff := now.Add(-Retention).Unix()
	if last := l.segs[len(l.segs)-1]; last.size > 0 && last.maxTime < cutoff {
		if err := l.roll(); err != nil {
			return 0, err
		}
	}
	drop := 0
	bytes := l.bytes
	for drop < len(l.segs)-1 && (l.segs[drop].maxTime < cutoff || bytes > l.opts.MaxBytes) {
		if l.segs[drop].maxTime >= cutoff {
			l.opts.Logger.Warn("trail log: over its size bound, deleting records before their 90 days",
				"segment", segmentName(l.segs[drop].seq), "max_bytes", l.opts.MaxBytes)
		}
		bytes -= l.segs[drop].size
		drop++
	}
	if drop == 0 {
		return 0, nil
	}
	keep := l.segs[drop].seq
	for account, regions := range l.scopes {
		for region, x := range regions {
			before := len(x.slots)
			x.dropBefore(keep)
			deleted += before - len(x.slots)
			if len(x.slots) == 0 {
				delete(regions, region)
			}
		}
		if len(regions) == 0 {
			delete(l.scopes, account)
		}
	}
	for _, seg := range l.segs[:drop] {
		seg.f.Close()
		if err := os.Remove(filepath.Join(l.dir, segmentName(seg.seq))); err != nil {
			return deleted, fmt.Errorf("trail log: %w", err)
		}
	}
	l.segs = slices.Delete(l.segs, 0, drop)
	l.bytes = bytes
	return deleted, nil
}

// idFile names the Log, in its directory: see ID.
const idFile = "id"

// ID is the Log's name among the Logs of the servers that share a store: 16 hex digits,
// chosen when first asked for and kept in the Log's directory, so that a restarted server is
// the same publisher (replica.go) and continues its own export.
func (l *Log) ID() (string, error) {
	l.idMu.Lock()
	defer l.idMu.Unlock()
	path := filepath.Join(l.dir, idFile)
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); len(id) == 16 {
			return id, nil
		}
		return "", fmt.Errorf("trail log: malformed %s", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("trail log: %w", err)
	}
	var b [8]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	root, err := os.OpenRoot(l.dir)
	if err != nil {
		return "", fmt.Errorf("trail log: %w", err)
	}
	defer root.Close()
	if err := atomicfile.Write(root, idFile, idFile+".tmp", []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("trail log: %w", err)
	}
	return id, nil
}

// exportCursor is the store key of the export's cursor in this Log (export.go).
func (l *Log) exportCursor() (string, error) {
	if !l.opts.Shared {
		return exportCursorKey, nil
	}
	id, err := l.ID()
	if err != nil {
		return "", err
	}
	return exportCursorKey + "/" + id, nil
}

// Size is the log's size in bytes.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.bytes
}

// Close closes the segment files; appends and lookups fail afterwards. A deferred read of
// the segments that has not started will not.
func (l *Log) Close() error {
	l.abortOnce.Do(func() {
		if l.abort != nil {
			close(l.abort)
		}
	})
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var err error
	for _, seg := range l.segs {
		err = errors.Join(err, seg.f.Close())
	}
	return err
}
