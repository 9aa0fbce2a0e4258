package ec2api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/stockade/stockade/model"
)

// bodyBudget bounds the bytes of request bodies held at once, across all connections. Bodies
// are read before the signature can be checked (SigV4 hashes them), so without a bound any
// unauthenticated client could make the server hold MaxBody per connection it opens: 1,000
// connections sending 1 MiB each held 1.1 GiB (security review 3.13). A body reserves its
// declared Content-Length, or the whole limit when it is chunked, before its first byte is
// read, and gives it back once the request is answered.
type bodyBudget struct {
	mu      sync.Mutex
	limit   int64
	used    int64
	peak    int64         // the highest used ever seen (tests assert the bound with it)
	waiting int           // requests waiting for bytes
	freed   chan struct{} // closed and replaced whenever bytes are given back
}

func newBodyBudget(limit int64) *bodyBudget {
	return &bodyBudget{limit: limit, freed: make(chan struct{})}
}

// tryAcquire reserves n bytes if they are free now.
func (b *bodyBudget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	b.peak = max(b.peak, b.used)
	return true
}

// acquire reserves n ≤ limit bytes, waiting until they are free or ctx ends.
func (b *bodyBudget) acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.used+n > b.limit {
		freed := b.freed
		b.waiting++
		b.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
		}
		b.mu.Lock()
		b.waiting--
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	b.used += n
	b.peak = max(b.peak, b.used)
	return nil
}

func (b *bodyBudget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.waiting > 0 { // a waiter took freed under mu; without one, nothing to wake
		close(b.freed)
		b.freed = make(chan struct{})
	}
}

// stats reports the bytes reserved now, the most ever reserved and the requests waiting.
func (b *bodyBudget) stats() (used, peak int64, waiting int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peak, b.waiting
}

// readBody reads the whole body once (it is both hashed for SigV4 and decoded). A body over
// MaxBody is refused unread; otherwise it first reserves its bytes in the budget and must then
// arrive, waiting included, within BodyTimeout: a slow body is cut with RequestTimeout (408)
// rather than holding its bytes and its connection. The returned release gives the bytes back;
// the caller calls it once the request is answered.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	return s.readBodyUpTo(w, r, s.cfg.MaxBody)
}

// readBodyUpTo is readBody with a limit of its own (S3's PutObject carries larger bodies).
func (s *Server) readBodyUpTo(w http.ResponseWriter, r *http.Request, limit int64) (body []byte, release func(), err error) {
	release = func() {}
	if r.ContentLength > limit {
		return nil, release, model.RequestEntityTooLarge.Errorf("Request body of %d bytes exceeds the limit of %d bytes.", r.ContentLength, limit)
	}
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil, release, nil
	}
	reserve := r.ContentLength
	if reserve < 0 { // chunked: its length is known only at its end
		reserve = limit
	}
	deadline := time.Now().Add(s.cfg.BodyTimeout)
	if !s.bodies.tryAcquire(reserve) { // the usual case needs no timer
		ctx, cancel := context.WithDeadline(r.Context(), deadline)
		err := s.bodies.acquire(ctx, reserve)
		cancel()
		if err != nil {
			return nil, release, model.RequestLimitExceeded.Errorf("Request limit exceeded: too many request bodies are being received at once; retry later.")
		}
	}
	release = func() { s.bodies.release(reserve) }
	// The read deadline replaces the server's ReadTimeout for this body; a handler behind
	// something that is not a connection (a recorder in tests) has no deadline to set.
	if err := http.NewResponseController(w).SetReadDeadline(deadline); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return nil, release, model.InvalidRequest.Errorf("Could not read the request body.")
	}
	if r.ContentLength > 0 {
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err == nil && int64(len(body)) > limit {
			return nil, release, model.RequestEntityTooLarge.Errorf("Request body exceeds the limit of %d bytes.", limit)
		}
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, release, model.RequestTimeout.Errorf("The request body was not received within %s.", s.cfg.BodyTimeout)
	case err != nil:
		return nil, release, model.InvalidRequest.Errorf("Could not read the request body: it ended early or is malformed.")
	}
	return body, release, nil
}
