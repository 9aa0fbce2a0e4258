package trail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/stockade/stockade/store"
)

// Target is the X-Amz-Target of LookupEvents; the service-qualified form is accepted too.
const (
	Target          = "CloudTrail_20131101.LookupEvents"
	qualifiedTarget = "com.amazonaws.cloudtrail.v20131101." + Target
)

// CloudTrail's error codes for LookupEvents (§2.4). They are CloudTrail's, not EC2's, so they
// live here rather than in the EC2 catalogue; the JSON protocol sends them bare in __type.
const (
	codeInvalidLookupAttributes = "InvalidLookupAttributesException"
	codeInvalidTimeRange        = "InvalidTimeRangeException"
	codeInvalidMaxResults       = "InvalidMaxResultsException"
	codeInvalidNextToken        = "InvalidNextTokenException"
	codeInvalidEventCategory    = "InvalidEventCategoryException"
	codeThrottling              = "ThrottlingException"
	// Malformed JSON and unknown targets: the JSON protocol's generic codes [UNCONFIRMED for
	// CloudTrail].
	codeSerialization    = "SerializationException"
	codeUnknownOperation = "UnknownOperationException"
	codeInternal         = "InternalFailure"
)

// Scope is who is asking and where: the caller's account and the region of the SigV4
// credential scope. Only records of that account and region are visible (§2.3).
type Scope struct{ Account, Region string }

// LookupOptions tunes a Lookup; the zero value gives AWS's behaviour.
type LookupOptions struct {
	// Rate and Burst are the per-account, per-region token bucket: 2 requests per second (the
	// AWS limit) and a burst of 2 by default. Rate < 0 turns throttling off.
	Rate  float64
	Burst int
	// Now is the clock (tests); time.Now by default.
	Now func() time.Time
}

// Lookup serves LookupEvents over the records of a Log.
type Lookup struct {
	log  *Log
	key  []byte
	now  func() time.Time
	rate float64
	cap  float64

	mu      sync.Mutex
	buckets map[Scope]*bucket
}

// tokenKeyKey holds the HMAC key of NextTokens, created once per store so that tokens outlive
// a restart (§2.5: valid ≥ 24 h).
const tokenKeyKey = Prefix + "meta/token-key"

// NewLookup returns a Lookup on log, with the key of its NextTokens in st (created on first
// use).
func NewLookup(ctx context.Context, st store.Store, log *Log, opts LookupOptions) (*Lookup, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rate == 0 {
		opts.Rate = 2
	}
	if opts.Burst <= 0 {
		opts.Burst = 2
	}
	l := &Lookup{log: log, now: opts.Now, rate: opts.Rate, cap: float64(opts.Burst), buckets: map[Scope]*bucket{}}
	for l.key == nil {
		kv, ok, err := st.Get(ctx, tokenKeyKey)
		if err != nil {
			return nil, fmt.Errorf("trail: token key: %w", err)
		}
		if ok {
			l.key = kv.Value
			break
		}
		key := make([]byte, 32)
		rand.Read(key)
		_, err = st.Txn(ctx, []store.Cond{{Key: tokenKeyKey}}, []store.Op{{Key: tokenKeyKey, Value: key}})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("trail: token key: %w", err)
		}
	}
	return l, nil
}

// Result is the answer to one LookupEvents call, and what its own trail record needs.
type Result struct {
	Status int
	Body   []byte
	Err    *Failure // nil on success
}

// Handler serves LookupEvents over HTTP (AWS JSON 1.1, §2.1). scope authenticates the request
// and names its account and region; false means it has answered the request itself (an
// authentication failure). done, when not nil, is given every finished call so that the
// caller can record it. The server's router mounts this; this package mounts nothing.
func (l *Lookup) Handler(scope func(w http.ResponseWriter, r *http.Request) (Scope, bool),
	done func(r *http.Request, sc Scope, requestID string, body []byte, res Result)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, ok := scope(w, r)
		if !ok {
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var res Result
		if err != nil {
			res = failure(codeSerialization, "request body could not be read")
		} else {
			res = l.Serve(r.Context(), sc, r.Header.Get("X-Amz-Target"), body)
		}
		id := newUUID()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("x-amzn-RequestId", id)
		w.WriteHeader(res.Status)
		w.Write(res.Body)
		if done != nil {
			done(r, sc, id, body, res)
		}
	})
}

// lookupRequest is LookupEvents' input (botocore cloudtrail 2013-11-01).
type lookupRequest struct {
	LookupAttributes []struct {
		AttributeKey   *string
		AttributeValue *string
	}
	StartTime     *float64
	EndTime       *float64
	EventCategory *string
	MaxResults    *int
	NextToken     *string
}

type lookupEvent struct {
	EventID         string     `json:"EventId"`
	EventName       string     `json:"EventName"`
	ReadOnly        string     `json:"ReadOnly"`
	AccessKeyID     string     `json:"AccessKeyId,omitempty"`
	EventTime       float64    `json:"EventTime"`
	EventSource     string     `json:"EventSource"`
	Username        string     `json:"Username,omitempty"`
	Resources       []Resource `json:"Resources"`
	CloudTrailEvent string     `json:"CloudTrailEvent"`
}

type lookupResponse struct {
	Events    []lookupEvent `json:"Events"`
	NextToken string        `json:"NextToken,omitempty"`
}

// Serve answers one LookupEvents call of sc with target and body as received.
func (l *Lookup) Serve(ctx context.Context, sc Scope, target string, body []byte) Result {
	if target != Target && target != qualifiedTarget {
		return failure(codeUnknownOperation, "unknown operation "+strconv.Quote(target))
	}
	if !l.allow(sc) {
		return failure(codeThrottling, "Rate exceeded")
	}
	var req lookupRequest
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return failure(codeSerialization, "the request body is not a valid LookupEvents request")
	}
	now := l.now()
	q := query{account: sc.Account, region: sc.Region, limit: 50, to: now, from: now.Add(-Retention)}
	if n := len(req.LookupAttributes); n > 1 {
		return failure(codeInvalidLookupAttributes, "You cannot specify more than one lookup attribute.")
	} else if n == 1 {
		a := req.LookupAttributes[0]
		switch {
		case a.AttributeKey == nil || !attributes[Attribute(*a.AttributeKey)]:
			return failure(codeInvalidLookupAttributes, "The lookup attribute key is not valid.")
		case a.AttributeValue == nil || *a.AttributeValue == "" || len([]rune(*a.AttributeValue)) > maxAttributeValue:
			return failure(codeInvalidLookupAttributes, "The lookup attribute value must be 1 to 2000 characters.")
		case *a.AttributeKey == string(ReadOnlyAttr) && *a.AttributeValue != "true" && *a.AttributeValue != "false":
			return failure(codeInvalidLookupAttributes, "The ReadOnly lookup attribute value must be true or false.")
		}
		q.attr, q.value = Attribute(*a.AttributeKey), *a.AttributeValue
	}
	if req.MaxResults != nil {
		if *req.MaxResults < 1 || *req.MaxResults > 50 {
			return failure(codeInvalidMaxResults, "MaxResults must be between 1 and 50.")
		}
		q.limit = *req.MaxResults
	}
	if req.StartTime != nil && req.EndTime != nil && *req.StartTime > *req.EndTime {
		return failure(codeInvalidTimeRange, "The start time must be before the end time.")
	}
	if req.EndTime != nil {
		// Events at or before EndTime: their second is at most its floor.
		if end := epoch(math.Floor(*req.EndTime)); end.Before(q.to) {
			q.to = end
		}
	}
	if req.StartTime != nil {
		// Older than the 90 days is clamped, never returned (§2.4 [STOCKADE]).
		if start := epoch(math.Ceil(*req.StartTime)); start.After(q.from) {
			q.from = start
		}
	}
	insight := false
	if req.EventCategory != nil {
		if *req.EventCategory != "insight" {
			return failure(codeInvalidEventCategory, "The event category must be insight.")
		}
		insight = true
	}
	filter := filterHash(sc, &req)
	if req.NextToken != nil {
		cursor, ok := l.openToken(*req.NextToken, filter, now)
		if !ok {
			return failure(codeInvalidNextToken, "The NextToken is not valid for this request.")
		}
		q.cursor = cursor
	}
	resp := lookupResponse{Events: []lookupEvent{}}
	if !insight && !q.from.After(q.to) { // Stockade has no Insights events: an insight lookup is empty
		entries, cursor, err := find(l.log, q)
		if err != nil {
			return failure(codeInternal, "An internal error has occurred.")
		}
		for _, e := range entries {
			resp.Events = append(resp.Events, event(e))
		}
		if cursor != "" {
			resp.NextToken = l.sealToken(cursor, filter, now)
		}
	}
	b, _ := json.Marshal(resp)
	return Result{Status: http.StatusOK, Body: b}
}

func epoch(sec float64) time.Time {
	if sec > 1e15 {
		sec = 1e15
	} else if sec < -1e15 {
		sec = -1e15
	}
	return time.Unix(int64(sec), 0).UTC()
}

func event(e *entry) lookupEvent {
	res := e.Lookup
	if res == nil {
		res = []Resource{}
	}
	return lookupEvent{EventID: e.EventID, EventName: e.EventName, ReadOnly: strconv.FormatBool(e.ReadOnly),
		AccessKeyID: e.AccessKeyID, EventTime: float64(e.Time), EventSource: e.EventSource,
		Username: e.Username, Resources: res, CloudTrailEvent: string(e.JSON)}
}

// failure is a JSON-protocol error: HTTP 400, {"__type": code, "message": text} (§2.1).
func failure(code, message string) Result {
	b, _ := json.Marshal(map[string]string{"__type": code, "message": message})
	status := http.StatusBadRequest
	if code == codeInternal {
		status = http.StatusInternalServerError
	}
	return Result{Status: status, Body: b, Err: &Failure{Code: code, Message: message, Server: status >= 500}}
}
