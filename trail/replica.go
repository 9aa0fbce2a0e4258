package trail

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stockade/stockade/store"
)

// Replication of the trail between API servers on one shared store (several servers on one
// etcd). Each server keeps its Log in its own data directory, and the records of the calls it
// served go there first, as on a single server. So that LookupEvents and the export on any
// server answer with the calls every server served, each server's Recorder also publishes
// what it appended, and every server follows what the others published:
//
//	trail-replica/TIME/SERVER/SEQ   a chunk of records one server appended: a format byte,
//	                                then DEFLATE of (uvarint length ‖ encoded entry)…
//
// TIME is the publisher's clock when it published (Unix seconds, 12 digits, as the outbox's),
// SERVER its Log's ID, SEQ a counter of its own. The prefix is not under trail/, whose keys
// watchers do not see (the server's Options.Unwatched): the followers watch it.
//
// etcd's limits, by design:
//   - Request size (1.5 MiB): a chunk is at most replicaChunk (1 MiB) of records before
//     compression; a batch of the Recorder (up to 256 records, about 1 KB each) is one chunk
//     and one transaction of one put, not one per call. A record alone over a chunk (none is:
//     responseElements are capped at 100 KB) is not published.
//   - Space (the 2 GiB quota): chunks are deleted TTL after they were published (every
//     server deletes what is older, so the chunks of a server that died go too); etcd frees
//     their space only when it compacts its history, so what they take is their rate times
//     the compaction retention. The rate is bounded: reads' records are published within a
//     budget of compressed bytes a second (ReplicaOptions.ReadBytes, 64 KiB/s: 225 MiB an
//     hour of history); beyond it they stay in their own server's Log only, and are counted
//     (Skipped). Changes' records are always published: their rate is the rate of writes,
//     each of which costs etcd a transaction of its own anyway.
//   - Operations per transaction (128): a publication is one put; the expiry deletes
//     expireBatch keys per transaction.
//
// A follower applies every chunk of the others that it has not seen: a record its Log
// contains already (same account, region, time and eventID) is skipped, so replays, a relist
// after a compaction and the server's own chunks of an earlier run cost nothing but the
// reading. It starts with a listing of the prefix and then watches from there; a watch that
// ends (compacted, lagging, etcd out of reach) is followed by a listing again.
//
// What a server misses: the records published while it was not following and deleted before
// it followed again, i.e. those of calls more than TTL (10 minutes) before it came back.
// They stay in the Logs (and exports) of the servers that were up; a newly started server
// has the last TTL of the others' calls and everything after. Reads' records beyond the
// budget, and records a publication lost (etcd out of reach), are only in their own server's
// Log. Records arrive at the others within the Recorder's linger plus a watch's delay,
// typically tens of milliseconds; the event bus of each server sees only its own calls, so
// that a rule delivers each event once.
const ReplicaPrefix = "trail-replica/"

// ReplicaOptions tunes a Replica; the zero value gives the defaults.
type ReplicaOptions struct {
	// TTL is how long a published chunk stays in the store (default 10 minutes).
	TTL time.Duration
	// ReadBytes is the budget, in compressed bytes a second, of reads' records (default
	// 64 KiB); a negative value publishes none.
	ReadBytes int
	Logger    *slog.Logger
}

// Replica publishes a server's records and follows the others'. See ReplicaPrefix.
type Replica struct {
	log       *Log
	st        store.Store
	server    string
	ttl       time.Duration
	readBytes int
	logger    *slog.Logger
	queue     chan []*entry
	zw        *flate.Writer // send's, reused
	seq       uint64
	tokens    float64 // the read budget left, in bytes (may be negative: a debt)
	refilled  time.Time
	published atomic.Int64 // records
	skipped   atomic.Int64 // reads' records over the budget or a full queue
	lost      atomic.Int64 // records whose publication failed
	applied   atomic.Int64 // others' records appended to the Log
}

// replicaChunk bounds a chunk's records before compression, under etcd's request size.
const replicaChunk = 1 << 20

// expireBatch is how many expired chunks one transaction deletes, under etcd's 128 ops (and
// one Scan reads, values included: a few MiB at most).
const expireBatch = 32

// chunkFormat is a chunk's first byte: DEFLATE of length-prefixed entries.
const chunkFormat = 1

// NewReplica returns the replica of log over st, publishing as the Log's ID; Run must run.
func NewReplica(log *Log, st store.Store, opts ReplicaOptions) (*Replica, error) {
	id, err := log.ID()
	if err != nil {
		return nil, err
	}
	if opts.TTL <= 0 {
		opts.TTL = 10 * time.Minute
	}
	if opts.ReadBytes == 0 {
		opts.ReadBytes = 64 << 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Replica{log: log, st: st, server: id, ttl: opts.TTL, readBytes: max(opts.ReadBytes, 0), logger: opts.Logger,
		queue: make(chan []*entry, 64), zw: newChunkWriter(), tokens: float64(max(opts.ReadBytes, 0)), refilled: time.Now()}, nil
}

// Published, Skipped, Lost and Applied count records: published by this server, not
// published (over the read budget, or a full queue), whose publication failed, and the
// others' appended to this server's Log.
func (r *Replica) Published() int64 { return r.published.Load() }
func (r *Replica) Skipped() int64   { return r.skipped.Load() }
func (r *Replica) Lost() int64      { return r.lost.Load() }
func (r *Replica) Applied() int64   { return r.applied.Load() }

// publish queues entries the Recorder appended, without blocking it: a full queue (the store
// slower than the calls) drops the batch, counted.
func (r *Replica) publish(entries []*entry) {
	if len(entries) == 0 {
		return
	}
	select {
	case r.queue <- entries:
	default:
		r.skipped.Add(int64(len(entries)))
	}
}

// Run publishes, follows and expires until ctx ends.
func (r *Replica) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() { defer close(done); r.follow(ctx) }()
	expire := time.NewTicker(time.Minute)
	defer expire.Stop()
	for {
		select {
		case es := <-r.queue:
			// Not cancelled by a stop: the batch was accepted, and send bounds itself.
			r.send(context.WithoutCancel(ctx), es)
		case now := <-expire.C:
			if err := r.expire(ctx, now); err != nil {
				r.logger.Warn("trail replica: expiry", "err", err)
			}
		case <-ctx.Done():
			// What the Recorder handed over before it stopped (it stops first) is published
			// still, within a bound.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			for drained := false; !drained; {
				select {
				case es := <-r.queue:
					r.send(dctx, es)
				default:
					drained = true
				}
			}
			cancel()
			<-done
			return
		}
	}
}

// send publishes one batch: its changes' records, and its reads' within the budget, in as
// many chunks as their size needs, each a transaction of one put.
func (r *Replica) send(ctx context.Context, batch []*entry) {
	now := time.Now()
	r.tokens = min(r.tokens+now.Sub(r.refilled).Seconds()*float64(r.readBytes), float64(r.readBytes))
	r.refilled = now
	var changes, reads []*entry
	for _, e := range batch {
		if e.ReadOnly {
			reads = append(reads, e)
		} else {
			changes = append(changes, e)
		}
	}
	if r.tokens <= 0 {
		r.skipped.Add(int64(len(reads)))
		reads = nil
	}
	all := append(changes, reads...)
	cs := chunks(all, replicaChunk)
	kept := 0
	for _, c := range cs {
		kept += len(c.encoded)
	}
	r.lost.Add(int64(len(all) - kept)) // a record too large alone
	for _, c := range cs {
		value, err := encodeChunk(r.zw, c)
		if err != nil {
			r.lost.Add(int64(len(c.encoded)))
			r.logger.Error("trail replica: encode", "err", err)
			continue
		}
		r.tokens -= float64(len(value)) * float64(c.reads) / float64(len(c.encoded))
		r.seq++
		key := fmt.Sprintf("%s%s/%s/%016x", ReplicaPrefix, timeKey(now), r.server, r.seq)
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = r.st.Txn(tctx, nil, []store.Op{{Key: key, Value: value}})
		cancel()
		if err != nil {
			r.lost.Add(int64(len(c.encoded)))
			r.logger.Warn("trail replica: publish", "records", len(c.encoded), "err", err)
			continue
		}
		r.published.Add(int64(len(c.encoded)))
	}
}

type chunk struct {
	encoded [][]byte // the entries, encoded once
	reads   int
}

// chunks encodes entries and splits them into runs of at most limit (replicaChunk) encoded
// bytes; an entry larger on its own is left out.
func chunks(entries []*entry, limit int) []chunk {
	var out []chunk
	var cur chunk
	size := 0
	for _, e := range entries {
		b := e.encode(make([]byte, 0, e.size()))
		if len(b) > limit {
			continue
		}
		if size+len(b) > limit && len(cur.encoded) > 0 {
			out = append(out, cur)
			cur, size = chunk{}, 0
		}
		cur.encoded = append(cur.encoded, b)
		if e.ReadOnly {
			cur.reads++
		}
		size += len(b)
	}
	if len(cur.encoded) > 0 {
		out = append(out, cur)
	}
	return out
}

// encodeChunk is a chunk's stored form. zw is reused from chunk to chunk (a DEFLATE writer
// is some hundreds of KB of state: one per chunk would be garbage at the rate of batches).
func encodeChunk(zw *flate.Writer, c chunk) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(chunkFormat)
	zw.Reset(&buf)
	for _, b := range c.encoded {
		var n [binary.MaxVarintLen64]byte
		if _, err := zw.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))]); err != nil {
			return nil, err
		}
		if _, err := zw.Write(b); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func newChunkWriter() *flate.Writer {
	zw, _ := flate.NewWriter(io.Discard, flate.BestSpeed) // a valid level: no error
	return zw
}

// maxChunkRecord bounds one record read from a chunk, against a damaged length.
const maxChunkRecord = replicaChunk

func decodeChunk(b []byte) ([]*entry, error) {
	if len(b) == 0 || b[0] != chunkFormat {
		return nil, errors.New("trail replica: unknown chunk format")
	}
	raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(b[1:])), replicaChunk+1<<16))
	if err != nil {
		return nil, fmt.Errorf("trail replica: %w", err)
	}
	var out []*entry
	for len(raw) > 0 {
		n, k := binary.Uvarint(raw)
		if k <= 0 || n > maxChunkRecord || uint64(len(raw)-k) < n {
			return nil, errors.New("trail replica: damaged chunk")
		}
		e, err := decodeEntry(raw[k : k+int(n)])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		raw = raw[k+int(n):]
	}
	return out, nil
}

// follow applies the others' chunks: a listing of the prefix, then its watch, then a listing
// again whenever the watch ends, until ctx ends.
func (r *Replica) follow(ctx context.Context) {
	for ctx.Err() == nil {
		if err := r.followOnce(ctx); err != nil && ctx.Err() == nil {
			r.logger.Warn("trail replica: following again", "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
	}
}

// followOnce watches from now on, applies what the prefix holds, then what the watch brings
// until it ends. The watch starts first, so that a chunk published during the listing is in
// one or the other.
func (r *Replica) followOnce(ctx context.Context) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := r.st.Watch(wctx, 0)
	if err != nil {
		return err
	}
	if err := r.catchUp(ctx); err != nil {
		return err
	}
	for ev := range w.C {
		for _, op := range ev.Ops {
			if !op.Delete && strings.HasPrefix(op.Key, ReplicaPrefix) {
				r.apply(op.Key, op.Value)
			}
		}
	}
	if err := w.Err(); err != nil {
		return err
	}
	return ctx.Err()
}

// catchUp applies every chunk the prefix holds, in pages.
func (r *Replica) catchUp(ctx context.Context) error {
	after := ""
	for {
		kvs, err := r.st.Scan(ctx, ReplicaPrefix, after, 64, false)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			r.apply(kv.Key, kv.Value)
			after = kv.Key
		}
		if len(kvs) < 64 {
			return nil
		}
	}
}

// apply appends a chunk's records that the Log does not have; this server's own chunks are
// skipped unread.
func (r *Replica) apply(key string, value []byte) {
	if rest, ok := strings.CutPrefix(key, ReplicaPrefix); ok {
		if parts := strings.Split(rest, "/"); len(parts) == 3 && parts[1] == r.server {
			return
		}
	}
	entries, err := decodeChunk(value)
	if err != nil {
		r.logger.Error("trail replica: damaged chunk skipped", "key", key, "err", err)
		return
	}
	oldest := time.Now().Add(-Retention).Unix()
	fresh := entries[:0]
	for _, e := range entries {
		if e.Time >= oldest && !r.log.contains(e.Account, e.Region, e.Time, e.EventID) {
			fresh = append(fresh, e)
		}
	}
	// Not synced here: the Recorder syncs the Log every second, and a crash before that
	// finds the chunk again at the next start, while it lives.
	if err := r.log.appendUnsynced(fresh); err != nil {
		r.logger.Error("trail replica: records not appended", "records", len(fresh), "err", err)
		return
	}
	r.applied.Add(int64(len(fresh)))
}

// expire deletes the chunks published more than TTL before now, by any server.
func (r *Replica) expire(ctx context.Context, now time.Time) error {
	limit := ReplicaPrefix + timeKey(now.Add(-r.ttl))
	for {
		kvs, err := r.st.Scan(ctx, ReplicaPrefix, "", expireBatch, false)
		if err != nil {
			return err
		}
		var del []store.Op
		for _, kv := range kvs {
			if kv.Key >= limit {
				break
			}
			del = append(del, store.Op{Key: kv.Key, Delete: true})
		}
		if len(del) == 0 {
			return nil
		}
		if _, err := r.st.Txn(ctx, nil, del); err != nil {
			return err
		}
		if len(del) < expireBatch {
			return nil
		}
	}
}
