package bolt

// The flusher applies the overlay's transactions to the bbolt file, many commits at a time:
// when FlushInterval has passed since the first of them was committed, or sooner once
// flushTxns are waiting. One bbolt commit then writes the pages that a commit per group wrote
// again and again (the history's last leaf, the branches above every key), and its two fsyncs
// are shared by hundreds of transactions instead of three or four.
//
// The log keeps what the file does not yet hold, so a failed flush loses nothing; it is tried
// again after FlushInterval, and while it fails the overlay grows, up to maxOverlayBytes, past
// which commits wait for room and then fail with the flush's error rather than hold
// unbounded memory.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"
)

const (
	// flushTxns is how many transactions waiting start a flush before FlushInterval.
	flushTxns = 2048
	// maxOverlayBytes bounds what waits in the overlay (keys, values, history entries and a
	// per-transaction overhead): a commit that finds more waits for the flusher.
	maxOverlayBytes = 64 << 20
)

func (s *Store) kickFlusher() {
	select {
	case s.flushKick <- struct{}{}:
	default:
	}
}

func (s *Store) flusher() {
	defer close(s.flusherStopped)
	retry := (<-chan time.Time)(nil)
	var release <-chan time.Time // nil: never
	if s.releaseEvery > 0 {
		t := time.NewTicker(s.releaseEvery)
		defer t.Stop()
		release = t.C
	}
	for {
		select {
		case <-s.flushStop:
			s.flushNow()
			return
		case reply := <-s.flushReq:
			reply <- s.flushNow()
			continue
		case <-release:
			// What was read since the last time (a restart's recovery, a watcher catching up
			// through the history, the writes' paths through the B-tree) leaves the memory.
			// It fails only if the file is closed, which Close does after stopping this loop,
			// or if madvise refuses, which leaves the pages where they were.
			s.ReleaseMapped()
			continue
		case <-retry:
		case <-s.flushKick:
			// Let more commits gather, up to the interval, flushTxns or a full overlay (whose
			// commits wait for this flush: waitRoom kicks).
			timer := time.NewTimer(s.flushInterval)
		gather:
			for !s.flushDue() {
				select {
				case <-timer.C:
					break gather
				case <-s.flushKick:
				case reply := <-s.flushReq:
					reply <- s.flushNow()
				case <-s.flushStop:
					timer.Stop()
					s.flushNow()
					return
				}
			}
			timer.Stop()
		}
		retry = nil
		if s.flushNow() != nil {
			retry = time.After(s.flushInterval)
		}
	}
}

// testHookApply, when set (tests), runs at the start of every flush's apply.
var testHookApply func()

// flushDue reports whether a flush should not wait for the interval: flushTxns transactions
// wait, or the overlay holds more than maxOverlayBytes.
func (s *Store) flushDue() bool {
	s.ov.mu.RLock()
	defer s.ov.mu.RUnlock()
	return s.flushDueLocked()
}

// flushDueLocked is flushDue for a caller holding s.ov.mu.
func (s *Store) flushDueLocked() bool {
	return len(s.ov.txs) >= flushTxns || s.ov.bytes > maxOverlayBytes
}

// flushNow applies every transaction in the overlay to the bbolt file, then drops them from
// the overlay. Only the flusher calls it (Open before the flusher starts). Commits made
// meanwhile did not kick the flusher (commit kicks an idle one only): when there are some,
// it kicks itself, to gather and flush them in their turn.
func (s *Store) flushNow() error {
	s.ov.mu.RLock()
	batch := slices.Clone(s.ov.txs)
	s.ov.mu.RUnlock()
	var err error
	if len(batch) > 0 {
		err = s.apply(batch)
	}
	s.ov.mu.Lock()
	if err == nil && len(batch) > 0 {
		s.ov.trim(batch[len(batch)-1].rev)
	}
	s.flushErr = err
	s.ov.room.Broadcast()
	more := err == nil && len(s.ov.txs) > 0 // after a failure the flusher tries again anyway
	s.ov.mu.Unlock()
	if more {
		s.kickFlusher()
	}
	return err
}

// apply writes batch, committed transactions in revision order, in one bbolt transaction: the
// ops, each transaction's history entry, the compaction of the history behind them, and the
// file's revision. Their conditions held when they were committed, and nothing has changed
// their keys since but the batch itself.
func (s *Store) apply(batch []*ovTxn) error {
	if testHookApply != nil {
		testHookApply()
	}
	var compacted int64
	s.stagedMu.Lock()
	defer s.stagedMu.Unlock()
	st := &stagedTxn{at: s.stagedAt, compacted: s.compacted}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		kv, meta, h := tx.Bucket(bucketKV), tx.Bucket(bucketMeta), tx.Bucket(bucketHistory)
		h.FillPercent = 1 // revisions only ever append: full pages, half the splits (TestHistoryPagesFull)
		st.changes, st.dead = nil, nil
		for _, t := range batch {
			for _, op := range t.ops {
				var err error
				switch {
				case s.isStaged(op.Key):
					err = st.apply(h, t.rev, op)
				case op.Delete:
					err = kv.Delete([]byte(op.Key))
				default:
					err = kv.Put([]byte(op.Key), encodeValue(t.rev, op.Value))
				}
				if err != nil {
					return err
				}
			}
			if err := h.Put(revKey(t.rev), t.hist); err != nil {
				return err
			}
		}
		rev := batch[len(batch)-1].rev
		if v := meta.Get(keyRevision); len(v) == 8 && int64(binary.BigEndian.Uint64(v)) != batch[0].rev-1 {
			return errors.New("the file's revision does not precede the batch") // a bug, never a disk's doing
		}
		cutoff := rev - s.limit
		deadBytes, oldestDead := s.dead.bytes, s.dead.oldest()
		for _, d := range st.dead { // the batch's own deletes count as well
			deadBytes += d.bytes
			if oldestDead == 0 {
				oldestDead = d.rev
			}
		}
		if deadBytes > s.maxDead {
			cutoff = max(cutoff, oldestDead) // deleted staged keys weigh too much: compact sooner
		}
		var err error
		// As many revisions compacted per transaction applied as when each commit was a
		// bbolt transaction of its own.
		if compacted, err = compactTo(h, s.compacted, min(cutoff, rev), 16*int64(len(batch)), st.get); err != nil {
			return err
		}
		return meta.Put(keyRevision, revKey(rev))
	})
	if err != nil {
		return fmt.Errorf("store %s: applying the log: %w", s.path, err)
	}
	st.commit()
	s.dead.add(st.dead)
	s.compacted = compacted
	s.dead.dropTo(compacted)
	return nil
}
