// Package logsapi is the minimal CloudWatch Logs API (JSON 1.1, X-Amz-Target
// Logs_20140328.<Action>) over package logstore: CreateLogGroup, DeleteLogGroup,
// DescribeLogGroups, CreateLogStream, DescribeLogStreams, PutLogEvents, GetLogEvents and
// FilterLogEvents, with CloudWatch Logs' error shape ({"__type", "message"}).
//
// It parses and renders only: the API server (package ec2api, logs.go) authenticates the
// caller (SigV4, service logs), authorizes logs:<Action> on the log group's ARN and records
// management calls in the trail before Serve runs.
package logsapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/stockade/stockade/logstore"
	"github.com/stockade/stockade/model"
)

// TargetPrefix is the X-Amz-Target prefix of CloudWatch Logs calls.
const TargetPrefix = "Logs_20140328."

// Handler serves authenticated, authorized calls over Store.
type Handler struct{ Store *logstore.Store }

// Management reports whether CloudTrail records the action as a management event; reading and
// writing events are data events (CloudTrail does not record PutLogEvents, GetLogEvents or
// FilterLogEvents).
func Management(action string) bool {
	switch action {
	case "PutLogEvents", "GetLogEvents", "FilterLogEvents":
		return false
	}
	return true
}

// Request is the part of a call the authorizer needs.
type Request struct {
	LogGroupName string `json:"logGroupName"`
}

// Peek reads the log group a call names (for authorization), "" when it names none.
func Peek(body []byte) string {
	var r Request
	json.Unmarshal(body, &r)
	return r.LogGroupName
}

// Result is a reply: status, JSON body, and the error it carries (nil on success).
type Result struct {
	Status int
	Body   []byte
	Err    *model.Error
}

// ErrorResult renders err in CloudWatch Logs' shape.
func ErrorResult(err *model.Error) Result {
	msg := err.Message
	if err.Code == model.InternalError.Name {
		msg = "An internal error occurred."
	}
	typ := err.Code
	if typ == model.InternalError.Name {
		typ = "ServiceUnavailableException"
	}
	b, _ := json.Marshal(map[string]string{"__type": typ, "message": msg})
	status := model.StatusOf(err.Code)
	return Result{Status: status, Body: b, Err: err}
}

// Limits of PutLogEvents (PutLogEvents API reference).
const (
	maxBatchBytes  = 1_048_576
	maxBatchEvents = 10_000
	maxEventBytes  = 1_048_576 - 26
	maxSpan        = 24 * 3600 * 1000
	defaultLimit   = 10_000
)

// Serve answers one call of action with its JSON body.
func (h *Handler) Serve(sc logstore.Scope, action string, body []byte) Result {
	out, err := h.serve(sc, action, body)
	if err != nil {
		return ErrorResult(model.Internal(err))
	}
	b, _ := json.Marshal(out)
	if out == nil {
		b = []byte("{}")
	}
	return Result{Status: http.StatusOK, Body: b}
}

type in struct {
	LogGroupName        string   `json:"logGroupName"`
	LogGroupNamePrefix  string   `json:"logGroupNamePrefix"`
	LogStreamName       string   `json:"logStreamName"`
	LogStreamNamePrefix string   `json:"logStreamNamePrefix"`
	LogStreamNames      []string `json:"logStreamNames"`
	LogEvents           []struct {
		Timestamp *int64  `json:"timestamp"`
		Message   *string `json:"message"`
	} `json:"logEvents"`
	StartTime     *int64 `json:"startTime"`
	EndTime       *int64 `json:"endTime"`
	NextToken     string `json:"nextToken"`
	Limit         *int   `json:"limit"`
	StartFromHead bool   `json:"startFromHead"`
	FilterPattern string `json:"filterPattern"`
}

func (h *Handler) serve(sc logstore.Scope, action string, body []byte) (any, error) {
	var q in
	dec := json.NewDecoder(bytes.NewReader(body))
	if len(bytes.TrimSpace(body)) > 0 {
		if err := dec.Decode(&q); err != nil {
			return nil, model.LogsSerialization.Errorf("Unable to parse the request body as JSON.")
		}
	}
	limit := defaultLimit
	if q.Limit != nil {
		if *q.Limit < 1 || *q.Limit > defaultLimit {
			return nil, model.LogsInvalidParameter.Errorf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000", *q.Limit)
		}
		limit = *q.Limit
	}
	st := h.Store
	switch action {
	case "CreateLogGroup":
		return nil, st.CreateGroup(sc, q.LogGroupName)
	case "DeleteLogGroup":
		return nil, st.DeleteGroup(sc, q.LogGroupName)
	case "DescribeLogGroups":
		var groups []map[string]any
		for _, g := range st.Groups(sc, q.LogGroupNamePrefix) {
			groups = append(groups, map[string]any{"logGroupName": g.Name, "creationTime": g.Created,
				"storedBytes": g.Bytes, "arn": g.ARN + ":*", "logGroupArn": g.ARN, "metricFilterCount": 0, "logGroupClass": "STANDARD"})
		}
		return page(groups, "logGroups", q.NextToken, min(limit, 50))
	case "CreateLogStream":
		return nil, st.CreateStream(sc, q.LogGroupName, q.LogStreamName)
	case "DescribeLogStreams":
		streams, err := st.Streams(sc, q.LogGroupName, q.LogStreamNamePrefix)
		if err != nil {
			return nil, err
		}
		var out []map[string]any
		for _, s := range streams {
			m := map[string]any{"logStreamName": s.Name, "creationTime": s.Created, "storedBytes": s.Bytes,
				"arn": logstore.GroupARN(sc, q.LogGroupName) + ":log-stream:" + s.Name}
			if s.Bytes > 0 {
				m["firstEventTimestamp"], m["lastEventTimestamp"], m["lastIngestionTime"] = s.First, s.Last, s.LastIn
			}
			out = append(out, m)
		}
		return page(out, "logStreams", q.NextToken, min(limit, 50))
	case "PutLogEvents":
		return putEvents(st, sc, q)
	case "GetLogEvents":
		return getEvents(st, sc, q, limit)
	case "FilterLogEvents":
		return filterEvents(st, sc, q, limit)
	}
	return nil, model.LogsUnknownOperation.Errorf("Unknown operation %s", action)
}

// page is one page of items with a nextToken (the index of the next item).
func page(items []map[string]any, name, token string, limit int) (any, error) {
	start := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 || n > len(items) {
			return nil, model.LogsInvalidParameter.Errorf("The specified nextToken is invalid.")
		}
		start = n
	}
	end := min(start+limit, len(items))
	out := map[string]any{name: append([]map[string]any{}, items[start:end]...)}
	if end < len(items) {
		out["nextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

func putEvents(st *logstore.Store, sc logstore.Scope, q in) (any, error) {
	if len(q.LogEvents) == 0 || len(q.LogEvents) > maxBatchEvents {
		return nil, model.LogsInvalidParameter.Errorf("1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length between 1 and 10000")
	}
	events := make([]logstore.Event, 0, len(q.LogEvents))
	var size int64
	for _, e := range q.LogEvents {
		if e.Timestamp == nil || e.Message == nil || *e.Message == "" {
			return nil, model.LogsInvalidParameter.Errorf("Each log event needs a timestamp and a non-empty message.")
		}
		ev := logstore.Event{Timestamp: *e.Timestamp, Message: *e.Message}
		if len(ev.Message) > maxEventBytes {
			return nil, model.LogsInvalidParameter.Errorf("Log event too large: %d bytes exceeds the limit of %d", len(ev.Message), maxEventBytes)
		}
		if n := len(events); n > 0 && ev.Timestamp < events[n-1].Timestamp {
			return nil, model.LogsInvalidParameter.Errorf("Log events in a single PutLogEvents request must be in chronological order.")
		}
		size += ev.Size()
		events = append(events, ev)
	}
	if size > maxBatchBytes {
		return nil, model.LogsInvalidParameter.Errorf("Upload too large: %d bytes exceeds limit of %d", size, maxBatchBytes)
	}
	if events[len(events)-1].Timestamp-events[0].Timestamp > maxSpan {
		return nil, model.LogsInvalidParameter.Errorf("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
	}
	if err := st.Put(sc, q.LogGroupName, q.LogStreamName, events); err != nil {
		return nil, err
	}
	// Sequence tokens are no longer checked by CloudWatch Logs; one is still returned.
	return map[string]any{"nextSequenceToken": strconv.Itoa(len(events))}, nil
}

func inTime(q in, t int64) bool {
	return (q.StartTime == nil || t >= *q.StartTime) && (q.EndTime == nil || t < *q.EndTime)
}

// getEvents is GetLogEvents: tokens "f/<i>" and "b/<i>" are positions in the stream's
// selection; from the head with startFromHead, else the latest events. A forward token
// equal to the one sent means the end has been reached, as clients expect.
func getEvents(st *logstore.Store, sc logstore.Scope, q in, limit int) (any, error) {
	all, err := st.Events(sc, q.LogGroupName, q.LogStreamName)
	if err != nil {
		return nil, err
	}
	var evs []logstore.Event
	for _, e := range all {
		if inTime(q, e.Timestamp) {
			evs = append(evs, e)
		}
	}
	var start, end int
	switch {
	case strings.HasPrefix(q.NextToken, "f/"):
		n, err := strconv.Atoi(q.NextToken[2:])
		if err != nil || n < 0 || n > len(evs) {
			return nil, model.LogsInvalidParameter.Errorf("The specified nextToken is invalid.")
		}
		start, end = n, min(n+limit, len(evs))
	case strings.HasPrefix(q.NextToken, "b/"):
		n, err := strconv.Atoi(q.NextToken[2:])
		if err != nil || n < 0 || n > len(evs) {
			return nil, model.LogsInvalidParameter.Errorf("The specified nextToken is invalid.")
		}
		start, end = max(n-limit, 0), n
	case q.NextToken != "":
		return nil, model.LogsInvalidParameter.Errorf("The specified nextToken is invalid.")
	case q.StartFromHead:
		start, end = 0, min(limit, len(evs))
	default:
		start, end = max(len(evs)-limit, 0), len(evs)
	}
	out := make([]logstore.Event, end-start)
	copy(out, evs[start:end])
	return map[string]any{"events": out, "nextForwardToken": "f/" + strconv.Itoa(end), "nextBackwardToken": "b/" + strconv.Itoa(start)}, nil
}

type filtered struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
}

// filterEvents is FilterLogEvents over the group's streams (all, those named, or those with
// the prefix), in timestamp order; nextToken is the position of the next matching event.
func filterEvents(st *logstore.Store, sc logstore.Scope, q in, limit int) (any, error) {
	if len(q.LogStreamNames) > 0 && q.LogStreamNamePrefix != "" {
		return nil, model.LogsInvalidParameter.Errorf("Cannot specify both logStreamNames and logStreamNamePrefix.")
	}
	pat, err := logstore.ParsePattern(q.FilterPattern)
	if err != nil {
		return nil, err
	}
	streams, err := st.Streams(sc, q.LogGroupName, q.LogStreamNamePrefix)
	if err != nil {
		return nil, err
	}
	var matches []filtered
	for _, s := range streams {
		if len(q.LogStreamNames) > 0 && !slices.Contains(q.LogStreamNames, s.Name) {
			continue
		}
		evs, err := st.Events(sc, q.LogGroupName, s.Name)
		if err != nil {
			return nil, err
		}
		for i, e := range evs {
			if inTime(q, e.Timestamp) && pat.Match(e.Message) {
				matches = append(matches, filtered{s.Name, e.Timestamp, e.Message, e.IngestionTime, s.Name + "/" + strconv.Itoa(i)})
			}
		}
	}
	slices.SortStableFunc(matches, func(a, b filtered) int { return int(a.Timestamp - b.Timestamp) })
	start := 0
	if q.NextToken != "" {
		n, err := strconv.Atoi(q.NextToken)
		if err != nil || n < 0 || n > len(matches) {
			return nil, model.LogsInvalidParameter.Errorf("The specified nextToken is invalid.")
		}
		start = n
	}
	end := min(start+limit, len(matches))
	out := map[string]any{"events": append([]filtered{}, matches[start:end]...), "searchedLogStreams": []any{}}
	if end < len(matches) {
		out["nextToken"] = strconv.Itoa(end)
	}
	return out, nil
}
