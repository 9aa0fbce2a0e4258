package relay

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/stockade/stockade/auth/sigv4"
	"github.com/stockade/stockade/flowlog"
)

// Sink is what the Handler delivers to: the server's flowlog.Writer.
type Sink interface {
	Deliver(ctx context.Context, logs []flowlog.Log, recs []flowlog.Record, start time.Time)
}

var _ Sink = (*flowlog.Writer)(nil)

// Handler serves Path on the API server: it takes an agent's batch and hands it to Sink.
// Replies are JSON: 200 {"records": N} once delivered (or already delivered: a repeated
// ID), 400 for a body that is not a batch or is larger than MaxBody, 403 for a request not
// signed with the operator's key, 405 for another method.
type Handler struct {
	Sink Sink
	// Operator returns the administrator account's access key and secret, read at each
	// request so that a key made by another server on a shared store is known.
	Operator func() (accessKeyID, secret string, ok bool)
	Log      *slog.Logger
	// Now is the clock for signatures (nil: time.Now).
	Now func() time.Time

	mu   sync.Mutex
	seen map[string]bool // IDs delivered lately, at most seenMax
	ring []string        // the same IDs, oldest first
}

// seenMax is how many batch IDs the Handler remembers: an agent retries a batch within
// minutes, and sends a few a window.
const seenMax = 4096

// errOperatorOnly is the refusal of a request signed with any other key than the operator's.
var errOperatorOnly = errors.New("only the operator may deliver flow-log records: sign with the administrator account's key (the credentials file in the API server's data directory, stockade agent --credentials)")

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, map[string]string{"error": "flow-log delivery takes POST"})
		return
	}
	// The key is looked at before a body of up to MaxBody is read: a request that does not
	// even name the operator's key costs the server nothing more (the signature is checked
	// below, once the body it covers is there).
	if cred, err := sigv4.Identify(r); err != nil {
		reply(w, http.StatusForbidden, map[string]string{"error": "flow-log delivery: " + err.Error() + " (" + errOperatorOnly.Error() + ")"})
		return
	} else if akid, _, ok := h.Operator(); !ok || cred.AccessKeyID != akid {
		reply(w, http.StatusForbidden, map[string]string{"error": errOperatorOnly.Error()})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		reply(w, http.StatusBadRequest, map[string]string{"error": "reading the body: " + err.Error()})
		return
	}
	if len(body) > MaxBody {
		reply(w, http.StatusBadRequest, map[string]string{"error": "the body is larger than the 16 MiB a batch may have"})
		return
	}
	if err := h.authenticate(r, body); err != nil {
		reply(w, http.StatusForbidden, map[string]string{"error": err.Error()})
		return
	}
	b, err := decodeBody(body, r.Header.Get("Content-Encoding"))
	if err != nil {
		reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	logs, recs, start, err := b.Decode()
	if err != nil {
		reply(w, http.StatusBadRequest, map[string]string{"error": "not a batch: " + err.Error()})
		return
	}
	if !h.first(b.ID) {
		reply(w, http.StatusOK, map[string]any{"records": len(recs), "repeated": true})
		return
	}
	// A client that goes away does not cut a delivery short: a batch is written whole.
	h.Sink.Deliver(context.WithoutCancel(r.Context()), logs, recs, start)
	if h.Log != nil {
		h.Log.Debug("flow-log records delivered for an agent", "host", b.Host, "window", start, "records", len(recs))
	}
	reply(w, http.StatusOK, map[string]any{"records": len(recs)})
}

// authenticate accepts a request signed (SigV4, scope Service) with the operator's key only.
// The scope's region is not checked: a batch carries its flow logs' regions.
func (h *Handler) authenticate(r *http.Request, body []byte) error {
	akid, secret, ok := h.Operator()
	if !ok {
		return errors.New("the server has no administrator account yet")
	}
	v := sigv4.Verifier{Now: h.Now, Secret: func(id string) (string, bool) {
		return secret, id == akid
	}}
	if _, err := v.Verify(r, body, Service); err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) && se.Reason == sigv4.UnknownKey {
			return errOperatorOnly
		}
		return errors.New("flow-log delivery: " + err.Error() + " (" + errOperatorOnly.Error() + ")")
	}
	return nil
}

// decodeBody reads a batch, gzipped or not, never decompressing past MaxBody.
func decodeBody(body []byte, encoding string) (Batch, error) {
	var rd io.Reader = bytes.NewReader(body)
	switch encoding {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return Batch{}, errors.New("the body is not gzip: " + err.Error())
		}
		rd = zr
	default:
		return Batch{}, errors.New("Content-Encoding " + encoding + ": want gzip or none")
	}
	plain, err := io.ReadAll(io.LimitReader(rd, MaxBody+1))
	if err != nil {
		return Batch{}, errors.New("the body is not gzip: " + err.Error())
	}
	if len(plain) > MaxBody {
		return Batch{}, errors.New("the batch is larger than the 16 MiB it may have decompressed")
	}
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	var b Batch
	if err := dec.Decode(&b); err != nil {
		return Batch{}, errors.New("not a batch: " + err.Error())
	}
	if dec.More() {
		return Batch{}, errors.New("not a batch: more after the batch's JSON")
	}
	return b, nil
}

// first reports whether a batch ID was not delivered lately, and remembers it. A batch
// without an ID is always delivered.
func (h *Handler) first(id string) bool {
	if id == "" {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen[id] {
		return false
	}
	if h.seen == nil {
		h.seen = map[string]bool{}
	}
	h.seen[id] = true
	h.ring = append(h.ring, id)
	if len(h.ring) > seenMax {
		delete(h.seen, h.ring[0])
		h.ring = h.ring[1:]
	}
	return true
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
