package ec2api

import (
	"encoding/json"
	"math/bits"
	"net/http"
	"net/url"
	"strings"

	"github.com/stockade/stockade/auth/sigv4"
	"github.com/stockade/stockade/authz"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/trail"
)

// This file records every call in the change trail (package trail, trail-iam.md §1): the
// server's only contact with the trail, kept apart from the request pipeline so that the
// authorization layer and the trail can change independently.
//
// Two paths, because the reply is rendered only after the service has committed:
//
//   - A call whose write commits stages its record in the change's own store transaction
//     (control.WithJournal): every field but responseElements, which the reply has not yet
//     produced, in the trail's outbox. Once the reply is rendered, the complete record goes
//     to the trail's log through the Recorder, which then deletes the staged one. A crash in
//     between leaves the staged record, which the next start moves to the log: never the
//     change without a record (§1.5's "durable outbox").
//   - Every other call — a read, a failure, a dry run, a denial, a write that changed
//     nothing — is recorded through the Recorder, off the request path: bounded, batched,
//     and counted (never blocking) when its queue is full.
//
// A denial is a failure like any other: the authorization step, run after authentication,
// returns its UnauthorizedOperation (or AccessDenied) error to ServeHTTP's fail, which records
// it. RecordCall is for a denial decided outside that pipeline.

// callIdentity is who made the call, as the trail records it: the principal the request
// authenticated as (an IAM user, a role session, or the account's root), or, without an
// Authorizer (emulator mode), the account's root.
func callIdentity(c *call) trail.Identity {
	p := c.principal
	if p == nil || p.Kind == iam.RootPrincipal {
		return trail.Identity{Kind: trail.Root, AccountID: c.account.ID, AccessKeyID: c.account.AccessKeyID}
	}
	return authz.TrailIdentity(*p)
}

// startRecording opens the trail of an authenticated call of service: from here on the call
// is recorded whatever happens to it. Its writes stage the record in their transaction
// (control.WithJournal); finish completes it. jsonParams is the body of a JSON-protocol call.
// With no Recorder configured the trail is off.
func (s *Server) startRecording(c *call, r *http.Request, service trail.Service, action string, params url.Values, jsonParams json.RawMessage) {
	if s.cfg.Recorder == nil {
		return
	}
	c.rec = trail.NewPending(trail.Call{
		Service: service, Action: action, Params: params, JSONParams: jsonParams, Identity: callIdentity(c),
		SourceIP: trail.SourceIP(r), UserAgent: r.Header.Get("User-Agent"), Region: c.tenant.Region,
		RequestID: c.requestID, TLS: trail.TLSOf(r),
	})
	if !trail.IsReadOnly(action) {
		c.rec.Prepare() // before the write's lock, not under it
	}
	c.ctx = control.WithJournal(c.ctx, c.rec.Journal)
}

// finish records the call's outcome: the response body of a success, or its failure. A
// staged record is completed (same eventTime and eventID); any other is new. The Recorder
// builds the record (Recorder.Complete), after the reply has gone: response is not changed
// once written.
func (s *Server) finish(c *call, response []byte, failure *trail.Failure) {
	if c.rec == nil {
		return
	}
	if !s.cfg.Recorder.Complete(c.rec, response, failure) {
		s.warnDropped()
	}
}

// RecordCall hands a finished record to the Recorder; the authorization layer calls it for a
// call it denies before any handler runs (build the record with trail.Build and the denial's
// Failure). A full queue drops the record: the API never waits for the trail of a call that
// changed nothing. Drops are counted (Recorder.Dropped, exported as a metric) and logged
// when their count reaches a power of two, so that a flood is visible without flooding the
// log.
func (s *Server) RecordCall(rec *trail.Record) {
	if s.cfg.Recorder == nil || rec == nil {
		return
	}
	if !s.cfg.Recorder.Record(rec) {
		s.warnDropped()
	}
}

// warnDropped logs the trail queue's drops, at the first and every power of two after.
func (s *Server) warnDropped() {
	if n := s.cfg.Recorder.Dropped(); bits.OnesCount64(uint64(n)) == 1 {
		s.cfg.Log.Warn("trail: queue full, records of calls dropped", "dropped_total", n)
	}
}

// failureOf is the trail's view of an error answered with status.
func failureOf(code, message string, status int) *trail.Failure {
	return &trail.Failure{Code: code, Message: message, Server: status >= 500}
}

// CloudTrail's LookupEvents (§2.1) is a JSON 1.1 call: X-Amz-Target names it and the SigV4
// scope names service cloudtrail.
const cloudTrailTargetPrefix = "CloudTrail_20131101."

func isCloudTrail(r *http.Request) bool {
	t := r.Header.Get("X-Amz-Target")
	return strings.HasPrefix(t, cloudTrailTargetPrefix) || strings.HasPrefix(t, "com.amazonaws.cloudtrail.")
}

// JSON-protocol authentication errors (botocore's common codes for JSON services; the codes
// CloudTrail itself answers are [UNCONFIRMED], as is status 400 for them).
const (
	jsonUnrecognizedClient = "UnrecognizedClientException"
	jsonInvalidSignature   = "InvalidSignatureException"
	jsonMissingToken       = "MissingAuthenticationTokenException"
	jsonIncomplete         = "IncompleteSignatureException"
)

// jsonAuthError is a verification failure in the JSON protocol's words.
func jsonAuthError(err error) (code, message string) {
	se, ok := err.(*sigv4.Error)
	if !ok {
		return jsonInvalidSignature, err.Error()
	}
	switch se.Reason {
	case sigv4.UnknownKey:
		return jsonUnrecognizedClient, "The security token included in the request is invalid."
	case sigv4.Unsigned:
		return jsonMissingToken, "Missing Authentication Token"
	case sigv4.Malformed:
		return jsonIncomplete, se.Message
	}
	return jsonInvalidSignature, se.Message
}

// serveCloudTrail answers a CloudTrail call (LookupEvents) for the caller's account in the
// region its signature names, and records it (read-only). With no Lookup configured the
// server does not speak CloudTrail and answers UnknownOperationException.
func (s *Server) serveCloudTrail(w http.ResponseWriter, r *http.Request, c *call, body []byte) (action, code string, status int) {
	target := r.Header.Get("X-Amz-Target")
	action = target[strings.LastIndexByte(target, '.')+1:]
	writeJSON := func(status int, b []byte) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("x-amzn-RequestId", c.requestID)
		w.WriteHeader(status)
		w.Write(b)
	}
	if err := s.authenticate(c, r, body, "cloudtrail"); err != nil {
		code, msg := jsonAuthError(err)
		b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
		writeJSON(http.StatusBadRequest, b)
		return "cloudtrail", code, http.StatusBadRequest
	}
	if s.cfg.Lookup == nil || action != "LookupEvents" {
		action = "cloudtrail" // keeps metric labels bounded
	}
	var res trail.Result
	if s.cfg.Lookup == nil {
		b, _ := json.Marshal(map[string]string{"__type": "UnknownOperationException", "message": "CloudTrail is not served."})
		res = trail.Result{Status: http.StatusBadRequest, Body: b, Err: failureOf("UnknownOperationException", "CloudTrail is not served.", http.StatusBadRequest)}
	} else {
		s.startRecording(c, r, trail.CloudTrail, target[strings.LastIndexByte(target, '.')+1:], nil, jsonParams(body))
		res = s.cfg.Lookup.Serve(c.ctx, trail.Scope{Account: c.tenant.Account, Region: c.tenant.Region}, target, body)
	}
	writeJSON(res.Status, res.Body)
	s.finish(c, nil, res.Err)
	if res.Err != nil {
		code = res.Err.Code
	}
	return action, code, res.Status
}

// jsonParams is a JSON request body as the record's requestParameters: as sent, or null when
// it is empty or not JSON.
func jsonParams(body []byte) json.RawMessage {
	if len(strings.TrimSpace(string(body))) == 0 || !json.Valid(body) {
		return json.RawMessage("null")
	}
	return json.RawMessage(body)
}
