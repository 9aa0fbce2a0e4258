package trail

import (
	"crypto/tls"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stockade/stockade/store"
)

// Pending is the record of one call in flight, for an API front whose writes commit before
// the reply is rendered (IAM and STS through package iam's Journal):
//
//   - Journal is what the call's write stages in its own store transaction: the record as
//     known before the reply (no responseElements). eventTime and eventID are fixed by
//     Prepare, which a front calls for a call that may write, before the write's lock, or
//     else by the first write; later writes of the same call stage the same keys.
//   - Finish builds the complete record once the reply exists. When a write staged one, the
//     complete record Completes it: the Recorder appends it to the Log and deletes the staged
//     one from the outbox. Otherwise it is a new record (a read, a failure, a denial).
//
// A crash between the two leaves the staged record, without its responseElements, in the
// outbox, which the next start moves to the Log: never the change without a record (§1.5's
// "durable outbox").
type Pending struct {
	mu        sync.Mutex
	call      Call
	staged    *Record
	ops       []store.Op // staged's store ops
	journaled bool       // a write took ops into its transaction
}

// NewPending opens the record of c; c.Time and c.EventID are set by Prepare, the first
// Journal or Finish.
func NewPending(c Call) *Pending { return &Pending{call: c} }

// Prepare builds the staged record and its store ops now, for a call that is about to write:
// a service calls its Journal under its write lock, which serialises the writes of a tenant,
// and Journal then only hands over what Prepare made. Without Prepare, Journal builds them.
func (p *Pending) Prepare() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prepare()
}

func (p *Pending) prepare() {
	if p.staged == nil {
		p.call.Time = time.Now()
		p.staged, _ = Build(p.call) // no response yet: Build cannot fail
		p.call.EventID = p.staged.EventID
		p.ops = p.staged.Ops()
	}
}

// Journal returns the staged record's store ops (a store.Journal).
func (p *Pending) Journal() []store.Op {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prepare()
	p.journaled = true
	return slices.Clone(p.ops) // the caller's to append to
}

// Finish is the call's complete record: response is the body of a success, failure the error
// the client got. An error means the response did not parse; the record is still whole, with
// responseElements null.
func (p *Pending) Finish(response []byte, failure *Failure) (*Record, error) {
	p.mu.Lock()
	c, staged, journaled := p.call, p.staged, p.journaled
	p.mu.Unlock()
	if staged == nil {
		c.Time = time.Now()
	}
	c.Response, c.Err = response, failure
	var rec *Record
	var err error
	if staged != nil && failure == nil {
		rec, err = staged.WithResponse(c) // the request's half as staged: built once
	} else {
		rec, err = Build(c)
	}
	if journaled { // a record only prepared was never in the outbox
		rec.Completes(staged)
	}
	return rec, err
}

// KeepsReply reports whether Complete may keep the reply of a success after it returns: the
// caller may reuse the reply's buffer when it does not.
func (p *Pending) KeepsReply() bool { return p.usesResponse(nil) }

// usesResponse reports whether the complete record, of a call that ended in failure (nil
// for a success), takes anything from its reply.
func (p *Pending) usesResponse(failure *Failure) bool {
	c := Call{Action: p.call.Action, JSONParams: p.call.JSONParams, Err: failure} // fixed since NewPending
	return takesResponse(&c)
}

// size is about the bytes of the call's parameters as a queued completion holds them.
func (p *Pending) size() int {
	n := len(p.call.JSONParams)
	for k, vs := range p.call.Params {
		n += len(k)
		for _, v := range vs {
			n += len(v)
		}
	}
	return n
}

// SourceIP is the client's address as the connection shows it (§1.1: X-Forwarded-For is
// honoured only from trusted proxies, and none are configured).
func SourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// TLSOf is §1.1's tlsDetails, for a request that came over TLS; nil otherwise.
func TLSOf(r *http.Request) *TLSDetails {
	if r.TLS == nil {
		return nil
	}
	return &TLSDetails{TLSVersion: strings.Replace(tls.VersionName(r.TLS.Version), "TLS ", "TLSv", 1),
		CipherSuite: tls.CipherSuiteName(r.TLS.CipherSuite), ClientProvidedHostHeader: r.Host}
}
