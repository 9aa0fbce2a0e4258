// Package eventsapi speaks EventBridge's AWS JSON 1.1 protocol (X-Amz-Target
// AWSEvents.<Action>, botocore events 2015-10-07) over package events: it decodes each
// request, checks what the model requires, calls the Service and encodes the reply or the
// error ({"__type": code, "message": …}, status 400). Authentication, authorization and the
// trail belong to the server that mounts it (ec2api); this package mounts nothing.
package eventsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/stockade/stockade/events"
)

// TargetPrefix starts the X-Amz-Target of every EventBridge call.
const TargetPrefix = "AWSEvents."

// Codes of the JSON protocol itself [UNCONFIRMED for EventBridge].
const (
	codeSerialization    = "SerializationException"
	codeUnknownOperation = "UnknownOperationException"
)

// Result is the answer to one call: its status and body, and for a failure its code and
// message (for the trail).
type Result struct {
	Status  int
	Body    []byte
	Code    string // "" on success
	Message string
}

// API serves the EventBridge actions over one Service.
type API struct{ svc *events.Service }

// New returns the API over svc.
func New(svc *events.Service) *API { return &API{svc: svc} }

// Action is the action a target names ("" when it is not an EventBridge target).
func Action(target string) string {
	a, ok := strings.CutPrefix(target, TargetPrefix)
	if !ok {
		return ""
	}
	return a
}

// Serves reports whether r is an EventBridge call.
func Serves(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
}

// Known reports whether action is one this API serves (the authorizer's events:<Action>).
func Known(action string) bool { _, ok := handlers[action]; return ok }

// ReadOnly reports whether an action changes nothing (the trail's readOnly, §1.5).
func ReadOnly(action string) bool {
	return strings.HasPrefix(action, "Describe") || strings.HasPrefix(action, "List") || action == "TestEventPattern"
}

type handler func(a *API, ctx context.Context, sc events.Scope, body []byte) (any, error)

var handlers = map[string]handler{
	"PutRule":                putRule,
	"DescribeRule":           describeRule,
	"ListRules":              listRules,
	"DeleteRule":             deleteRule,
	"EnableRule":             enableRule,
	"DisableRule":            disableRule,
	"PutTargets":             putTargets,
	"RemoveTargets":          removeTargets,
	"ListTargetsByRule":      listTargets,
	"TestEventPattern":       testEventPattern,
	"CreateConnection":       createConnection,
	"DescribeConnection":     describeConnection,
	"ListConnections":        listConnections,
	"DeleteConnection":       deleteConnection,
	"CreateApiDestination":   createDestination,
	"DescribeApiDestination": describeDestination,
	"ListApiDestinations":    listDestinations,
	"DeleteApiDestination":   deleteDestination,
}

// Serve answers one call of account in region with target and body as received.
func (a *API) Serve(ctx context.Context, account, region, target string, body []byte) Result {
	sc := events.Scope{Account: account, Region: region}
	h := handlers[Action(target)]
	if h == nil {
		return failure(codeUnknownOperation, "Unknown operation "+target)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	out, err := h(a, ctx, sc, body)
	if err != nil {
		var e *events.Error
		if errors.As(err, &e) {
			return failure(e.Code, e.Message)
		}
		return failure(events.CodeInternal, "An internal error occurred.")
	}
	b, err := json.Marshal(out)
	if err != nil {
		return failure(events.CodeInternal, "An internal error occurred.")
	}
	return Result{Status: http.StatusOK, Body: b}
}

func failure(code, message string) Result {
	b, _ := json.Marshal(map[string]string{"__type": code, "message": message})
	status := http.StatusBadRequest
	if code == events.CodeInternal {
		status = http.StatusInternalServerError
	}
	return Result{Status: status, Body: b, Code: code, Message: message}
}

// decode reads a request body into v.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &events.Error{Code: codeSerialization, Message: "The request body is not a valid request of this operation."}
	}
	return nil
}

// required refuses a member the model requires and the request left out.
func required(v *string, member string) error {
	if v == nil {
		return &events.Error{Code: events.CodeValidation, Message: "1 validation error detected: Value null at '" + member + "' failed to satisfy constraint: Member must not be null"}
	}
	return nil
}

// epoch is a timestamp as the JSON protocol sends it: seconds since the epoch.
func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// sensitive is what the trail writes instead of a secret (§1.5).
const sensitive = "<sensitiveDataRemoved>"

// RequestParameters is a call's body as its trail record's requestParameters: the secrets of
// CreateConnection's AuthParameters replaced, never logged; null when the body is not JSON.
func RequestParameters(action string, body []byte) json.RawMessage {
	if len(bytes.TrimSpace(body)) == 0 || !json.Valid(body) {
		return json.RawMessage("null")
	}
	if action != "CreateConnection" {
		return json.RawMessage(body)
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return json.RawMessage("null")
	}
	if ap, ok := m["AuthParameters"].(map[string]any); ok {
		for _, f := range [][2]string{{"ApiKeyAuthParameters", "ApiKeyValue"}, {"BasicAuthParameters", "Password"}} {
			if p, ok := ap[f[0]].(map[string]any); ok {
				if _, ok := p[f[1]]; ok {
					p[f[1]] = sensitive
				}
			}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<sensitiveDataRemoved>" as AWS writes it
	enc.Encode(m)
	return bytes.TrimSpace(buf.Bytes())
}
