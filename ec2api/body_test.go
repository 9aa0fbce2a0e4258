package ec2api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowBody is a raw connection that has sent a request's headers and part of its body.
type slowBody struct {
	conn net.Conn
	rest []byte
}

// startBody opens a connection to addr and sends a POST whose Content-Length is size, with only
// the first sent bytes of its body.
func startBody(t *testing.T, addr string, size, sent int) *slowBody {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := []byte("Action=DescribeVpcs&Version=2016-11-15&x=" + strings.Repeat("a", size))[:size]
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", addr, size)
	if _, err := conn.Write(body[:sent]); err != nil {
		t.Fatal(err)
	}
	return &slowBody{conn: conn, rest: body[sent:]}
}

// finish sends the rest of the body and returns the response's status and error code.
func (b *slowBody) finish() (int, string, error) {
	if len(b.rest) > 0 {
		if _, err := b.conn.Write(b.rest); err != nil {
			return 0, "", err
		}
	}
	return b.response()
}

func (b *slowBody) response() (int, string, error) {
	resp, err := http.ReadResponse(bufio.NewReader(b.conn), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, field(string(body), "Code"), nil
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestBodyBudgetHolds: many connections each sending a large body, slowly, never make the
// server hold more body bytes than its budget: the others wait, unread, until bytes are
// given back (security review 3.13: 1,000 × 1 MiB held 1.1 GiB).
func TestBodyBudgetHolds(t *testing.T) {
	const (
		maxBody = 64 << 10
		budget  = 4 * maxBody
		conns   = 40
	)
	var api *Server
	tapi := newEdgeAPI(t, func(c *Config) { c.MaxBody, c.BodyBudget, c.BodyTimeout = maxBody, budget, time.Hour })
	api = tapi.srv.Config.Handler.(*Server)
	addr := tapi.srv.Listener.Addr().String()

	bodies := make([]*slowBody, conns)
	for i := range bodies {
		bodies[i] = startBody(t, addr, maxBody, 1024)
	}
	waitFor(t, "every body to be held or waiting", func() bool {
		used, _, waiting := api.bodies.stats()
		return used == budget && waiting == conns-budget/maxBody
	})

	var wg sync.WaitGroup
	results := make([]string, conns)
	for i, b := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, code, err := b.finish()
			results[i] = fmt.Sprint(status, " ", code, " ", err)
		}()
	}
	wg.Wait()
	for i, r := range results {
		// Unsigned, so refused, but only once the body was read in full.
		if r != "400 MissingParameter <nil>" {
			t.Errorf("connection %d: %s", i, r)
		}
	}
	used, peak, waiting := api.bodies.stats()
	if used != 0 || waiting != 0 || peak != budget {
		t.Errorf("after: %d bytes held, %d waiting, peak %d; want 0, 0, %d", used, waiting, peak, budget)
	}
}

// TestSlowBodyIsCut: a body that stops arriving is answered with RequestTimeout and gives its
// bytes back, instead of holding them until the connection's ReadTimeout (review 3.14).
func TestSlowBodyIsCut(t *testing.T) {
	tapi := newEdgeAPI(t, func(c *Config) { c.BodyTimeout = 50 * time.Millisecond })
	api := tapi.srv.Config.Handler.(*Server)
	b := startBody(t, tapi.srv.Listener.Addr().String(), 4096, 100)
	status, code, err := b.response()
	if err != nil || status != http.StatusRequestTimeout || code != "RequestTimeout" {
		t.Fatalf("slow body: %d %q %v, want 408 RequestTimeout", status, code, err)
	}
	if used, _, _ := api.bodies.stats(); used != 0 {
		t.Errorf("%d bytes still held", used)
	}
	// A body that ends before its Content-Length is a client error, not a timeout.
	b = startBody(t, tapi.srv.Listener.Addr().String(), 4096, 100)
	b.conn.(*net.TCPConn).CloseWrite()
	if status, code, err := b.response(); err != nil || status != http.StatusBadRequest || code != "InvalidRequest" {
		t.Errorf("short body: %d %q %v, want 400 InvalidRequest", status, code, err)
	}
}

// TestBodyBudgetWait: a request that cannot get its bytes within its time is refused with
// RequestLimitExceeded, which SDKs retry with backoff; bytes given back wake the waiters.
func TestBodyBudgetWait(t *testing.T) {
	b := newBodyBudget(100)
	if err := b.acquire(context.Background(), 80); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.acquire(ctx, 30); err == nil {
		t.Fatal("acquired past the budget")
	}
	done := make(chan error)
	go func() { done <- b.acquire(context.Background(), 30) }()
	waitFor(t, "the waiter", func() bool { _, _, w := b.stats(); return w == 1 })
	b.release(80)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if used, peak, waiting := b.stats(); used != 30 || peak != 80 || waiting != 0 {
		t.Errorf("used %d peak %d waiting %d", used, peak, waiting)
	}
}
