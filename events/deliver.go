package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/stockade/stockade/store"
)

// SignatureHeader carries the HMAC-SHA256 of the request body, "sha256=<hex>", keyed by the
// connection's secret: the ApiKeyValue of an API_KEY connection, the Password of a BASIC one.
// A receiver that knows its secret recomputes it over the raw body and compares in constant
// time; the secret itself is never sent again after CreateConnection [STOCKADE].
const SignatureHeader = "X-Stockade-Signature"

// DeliveryHeader carries the delivery's ID, the same on every retry, so that a receiver can
// drop a duplicate (a crash between its reply and our bookkeeping re-sends it).
const DeliveryHeader = "X-Stockade-Delivery"

const queuePrefix = Prefix + "q/"

// delivery is one event on its way to one API destination, as kept in the store until it
// is delivered or dead-lettered.
type delivery struct {
	ID          string          `json:"id"`
	Account     string          `json:"account"`
	Region      string          `json:"region"`
	Rule        string          `json:"rule"`
	Target      string          `json:"target"`
	Destination string          `json:"destination"`
	Event       json.RawMessage `json:"event"`
	Created     time.Time       `json:"created"`
	Attempts    int             `json:"attempts"`
	Next        time.Time       `json:"next"`
	LastError   string          `json:"lastError,omitempty"`
}

func (d *delivery) op() store.Op {
	b, _ := json.Marshal(d)
	return store.Op{Key: queuePrefix + d.ID, Value: b}
}

// newClient is the webhooks' HTTP client: every connection's address passes the guard
// (after name resolution), no proxy (it would bypass the guard), no redirects.
func newClient(cfg BusConfig) *http.Client {
	tr := cfg.Transport
	if tr == nil {
		d := &net.Dialer{Timeout: cfg.Timeout, Control: cfg.Guard.control}
		tr = &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute,
			TLSHandshakeTimeout: cfg.Timeout, ResponseHeaderTimeout: cfg.Timeout}
	}
	return &http.Client{Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// work delivers due deliveries until ctx ends.
func (b *Bus) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-b.due:
			b.attempt(ctx, d)
		}
	}
}

// permanent is an attempt that must not be retried.
type permanent struct{ error }

// attempt tries d once, then deletes it, schedules its retry, or dead-letters it.
func (b *Bus) attempt(ctx context.Context, d *delivery) {
	err := b.post(ctx, d)
	if ctx.Err() != nil {
		return // shutting down: d stays in the store as it was
	}
	if err == nil {
		b.delivered.Add(1)
		b.finish(ctx, d)
		return
	}
	d.Attempts++
	d.LastError = err.Error()
	now := time.Now().UTC()
	var p permanent
	if errors.As(err, &p) || now.Sub(d.Created) >= b.cfg.MaxAge {
		b.deadLetter(ctx, d)
		return
	}
	b.retried.Add(1)
	d.Next = now.Add(b.backoff(d.Attempts))
	if _, err := b.st.Txn(ctx, nil, []store.Op{d.op()}); err != nil {
		b.log.Error("events: retry not persisted", "delivery", d.ID, "err", err)
	}
	b.schedule(ctx, d)
}

// backoff is the delay before retry n (1-based): Backoff·2^(n-1), at most MaxBackoff,
// less up to half of it at random.
func (b *Bus) backoff(n int) time.Duration {
	d := b.cfg.MaxBackoff
	if n < 32 {
		d = min(b.cfg.Backoff<<(n-1), b.cfg.MaxBackoff)
	}
	return d - time.Duration(rand.Int64N(int64(d)/2+1))
}

// finish forgets a delivery that is done.
func (b *Bus) finish(ctx context.Context, d *delivery) {
	b.addPending(d.Account, -1)
	if _, err := b.st.Txn(ctx, nil, []store.Op{{Key: queuePrefix + d.ID, Delete: true}}); err != nil {
		b.log.Error("events: delivered, not forgotten (it will be sent again after a restart)", "delivery", d.ID, "err", err)
	}
}

// deadLetter writes d to the dead-letter file and forgets it.
func (b *Bus) deadLetter(ctx context.Context, d *delivery) {
	line, _ := json.Marshal(d)
	b.fileMu.Lock()
	err := appendLine(b.cfg.DataDir, DeadLetterFile, line)
	b.fileMu.Unlock()
	b.deadLettered.Add(1) // counted once written: a reader of the count finds the line
	if err != nil {
		b.log.Error("events: dead-letter file", "delivery", d.ID, "err", err)
	}
	b.log.Warn("events: delivery given up", "delivery", d.ID, "rule", d.Rule, "destination", d.Destination,
		"attempts", d.Attempts, "error", d.LastError)
	b.finish(ctx, d)
}

// post sends d to its destination once. EventBridge retries API destinations on 401, 407,
// 409, 429 and 5xx and network errors, and not on other 4xx [UNCONFIRMED list]: the same here.
func (b *Bus) post(ctx context.Context, d *delivery) error {
	sc := Scope{d.Account, d.Region}
	dest, conn, err := b.svc.webhook(sc, d.Destination)
	if err != nil {
		return permanent{err}
	}
	if err := b.limiter(dest).wait(ctx); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, dest.Method, dest.Endpoint, bytes.NewReader(d.Event))
	if err != nil {
		return permanent{err}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stockade-EventBridge")
	req.Header.Set(DeliveryHeader, d.ID)
	mac := hmac.New(sha256.New, []byte(conn.secret()))
	mac.Write(d.Event)
	req.Header.Set(SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	switch conn.AuthType {
	case AuthAPIKey:
		req.Header.Set(conn.APIKeyName, conn.APIKeyValue)
	case AuthBasic:
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(conn.Username+":"+conn.Password)))
	}
	resp, err := b.client.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), errGuarded.Error()) {
			return permanent{err}
		}
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == 401 || c == 407 || c == 409 || c == 429 || c >= 500:
		return fmt.Errorf("HTTP %d", c)
	default:
		return permanent{fmt.Errorf("HTTP %d", c)}
	}
}

// webhook returns the API destination an ARN names and its connection.
func (s *Service) webhook(sc Scope, arn string) (Destination, Connection, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, d := range s.view(sc).dests {
		if d.ARN == arn {
			if c := s.connectionByARN(sc, d.ConnectionARN); c != nil {
				return *d, *c, nil
			}
			return Destination{}, Connection{}, fmt.Errorf("the connection of %s no longer exists", arn)
		}
	}
	return Destination{}, Connection{}, fmt.Errorf("API destination %s no longer exists", arn)
}

// limiter is a token bucket of InvocationRateLimitPerSecond, burst one second's worth.
type limiter struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

func (b *Bus) limiter(d Destination) *limiter {
	b.limitMu.Lock()
	defer b.limitMu.Unlock()
	l := b.limits[d.ARN]
	if l == nil || l.rate != float64(d.RateLimit) {
		l = &limiter{rate: float64(d.RateLimit), tokens: float64(d.RateLimit), last: time.Now()}
		b.limits[d.ARN] = l
	}
	return l
}

// wait takes a token, sleeping until one is there.
func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	l.tokens = min(l.rate, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens--
	short := -l.tokens
	l.mu.Unlock()
	if short <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(short / l.rate * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
