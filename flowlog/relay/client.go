package relay

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/stockade/stockade/auth/sigv4"
	"github.com/stockade/stockade/flowlog"
)

// Client is an agent's writer (host.RecordSink): Deliver queues a window's records and
// returns at once; Run sends the queue to the API server's Handler, oldest first, each batch
// tried up to Attempts times with doubling backoff. The queue holds at most MaxQueued bytes
// of encoded batches: past that the oldest is dropped and logged, so that a server that is
// away for long costs the agent bounded memory and never holds up enforcement.
type Client struct {
	Endpoint            string // the API server, http://host:port
	AccessKeyID, Secret string // the administrator account's key
	Region              string // the signature's scope (any served region; "": us-east-1)
	Host                string // this agent's host, for the server's log
	HTTP                *http.Client
	Log                 *slog.Logger
	// Attempts is how often a batch is sent before it is dropped (0: 5); Backoff the wait
	// after the first failure, doubled after each (0: 1 s), at most MaxBackoff (0: 30 s).
	Attempts            int
	Backoff, MaxBackoff time.Duration
	// MaxQueued bounds the queue's encoded bytes (0: 64 MiB).
	MaxQueued int

	mu      sync.Mutex
	queue   []queued
	bytes   int
	wake    chan struct{}
	dropped int // batches dropped so far (tests)
}

// queued is a batch ready to send: its gzipped JSON and what the log says of it.
type queued struct {
	id      string
	start   time.Time
	records int
	body    []byte
}

// Deliver encodes a window's records into batches and queues them; it never waits for
// the server.
func (c *Client) Deliver(_ context.Context, logs []flowlog.Log, recs []flowlog.Record, start time.Time) {
	for _, b := range Encode(logs, recs, start) {
		b.ID, b.Host = newID(), c.Host
		body, err := gzipJSON(b)
		if err != nil { // a record the encoder cannot take: a bug, not a transient failure
			c.log().Error("flow-log records not sent: cannot encode the batch", "window", start, "records", len(b.Records), "err", err)
			continue
		}
		c.push(queued{id: b.ID, start: start, records: len(b.Records), body: body})
	}
}

// push appends to the queue, dropping the oldest batches past MaxQueued.
func (c *Client) push(q queued) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wake == nil {
		c.wake = make(chan struct{}, 1)
	}
	c.queue = append(c.queue, q)
	c.bytes += len(q.body)
	max := c.MaxQueued
	if max <= 0 {
		max = 64 << 20
	}
	for c.bytes > max && len(c.queue) > 1 {
		old := c.queue[0]
		c.queue = c.queue[1:]
		c.bytes -= len(old.body)
		c.dropped++
		c.log().Warn("flow-log records dropped: the API server has not taken them and the agent's queue is full",
			"window", old.start, "records", old.records, "queued_bytes", c.bytes)
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run sends queued batches until ctx ends; then it tries what is left once each, for a
// few seconds, so that a stopping agent hands over its last window.
func (c *Client) Run(ctx context.Context) {
	c.mu.Lock()
	if c.wake == nil {
		c.wake = make(chan struct{}, 1)
	}
	wake := c.wake
	c.mu.Unlock()
	for {
		q, ok := c.head()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-wake:
				continue
			}
		}
		c.sendWithRetries(ctx, q)
		if ctx.Err() != nil {
			c.drain()
			return
		}
	}
}

// sendWithRetries sends the queue's head until it is taken, refused for good, or out of
// attempts; then it leaves the queue (unless a newer push dropped it meanwhile).
func (c *Client) sendWithRetries(ctx context.Context, q queued) {
	attempts, wait := c.Attempts, c.Backoff
	if attempts <= 0 {
		attempts = 5
	}
	if wait <= 0 {
		wait = time.Second
	}
	maxWait := c.MaxBackoff
	if maxWait <= 0 {
		maxWait = 30 * time.Second
	}
	for i := 1; ; i++ {
		err := c.send(ctx, q.body)
		var perm *permanent
		switch {
		case err == nil:
			c.pop(q.id)
			return
		case errors.As(err, &perm):
			c.log().Error("flow-log records refused by the API server; not sent again", "window", q.start, "records", q.records, "err", err)
			c.pop(q.id)
			return
		case i >= attempts:
			c.log().Error("flow-log records dropped after every attempt failed", "window", q.start, "records", q.records, "attempts", i, "err", err)
			c.pop(q.id)
			return
		case ctx.Err() != nil:
			return
		}
		c.log().Warn("flow-log records not delivered yet; trying again", "window", q.start, "attempt", i, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}
}

// drain tries every batch left once, within 5 s, and logs what stays undelivered.
func (c *Client) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		q, ok := c.head()
		if !ok {
			return
		}
		if err := c.send(ctx, q.body); err != nil {
			c.mu.Lock()
			n := len(c.queue)
			c.mu.Unlock()
			c.log().Warn("flow-log records not delivered before the agent stopped", "batches", n, "err", err)
			return
		}
		c.pop(q.id)
	}
}

func (c *Client) head() (queued, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return queued{}, false
	}
	return c.queue[0], true
}

// pop removes the batch id if it is still the head (push may have dropped it meanwhile).
func (c *Client) pop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) > 0 && c.queue[0].id == id {
		c.bytes -= len(c.queue[0].body)
		c.queue = c.queue[1:]
	}
}

// permanent is a refusal that sending again cannot change (a 4xx other than 408 and 429).
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }

// send posts one batch, signed with the operator's key.
func (c *Client) send(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.Endpoint, "/")+Path, bytes.NewReader(body))
	if err != nil {
		return &permanent{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	sigv4.Sign(req, body, c.AccessKeyID, c.Secret, region, Service, time.Now())
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	err = fmt.Errorf("%s %s: %s: %s", http.MethodPost, Path, resp.Status, bytes.TrimSpace(msg))
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return &permanent{err}
	}
	return err
}

func (c *Client) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

func gzipJSON(b Batch) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
