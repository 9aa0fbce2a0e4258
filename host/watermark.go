package host

import (
	"context"
	"sync"
)

// Watermark is a store revision that only grows — what a host enforces, or what its lab has
// caught up with — and lets callers wait until it reaches a revision. The zero value is 0.
type Watermark struct {
	mu    sync.Mutex
	rev   int64
	grown chan struct{} // closed and replaced when rev grows
}

// Set raises the watermark to rev (a lower rev changes nothing) and wakes the waiters.
func (w *Watermark) Set(rev int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if rev <= w.rev {
		return false
	}
	w.rev = rev
	if w.grown != nil {
		close(w.grown)
		w.grown = nil
	}
	return true
}

// Get returns the watermark.
func (w *Watermark) Get() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rev
}

// Wait blocks until the watermark is at least rev, or ctx ends.
func (w *Watermark) Wait(ctx context.Context, rev int64) error {
	for {
		w.mu.Lock()
		if w.rev >= rev {
			w.mu.Unlock()
			return nil
		}
		if w.grown == nil {
			w.grown = make(chan struct{})
		}
		ch := w.grown
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}
