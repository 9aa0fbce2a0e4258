package ec2api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/stockade/stockade/authz"
	"github.com/stockade/stockade/events/eventsapi"
	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/iampolicy"
	"github.com/stockade/stockade/trail"
)

// The EventBridge API (package events/eventsapi) is a JSON 1.1 service like CloudTrail's
// LookupEvents: X-Amz-Target AWSEvents.<Action>, SigV4 scope service "events". It is
// served here so that it shares the signature check, the IAM authorizer (events:<Action>)
// and the trail (eventSource events.amazonaws.com) with every other call.

// jsonAccessDenied is the JSON services' denial code.
const jsonAccessDenied = "AccessDeniedException"

// serveEvents answers an EventBridge call for the caller's account in the region its
// signature names, and records it. With no Events configured the server does not speak
// EventBridge and answers UnknownOperationException.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request, c *call, body []byte) (action, code string, status int) {
	target := r.Header.Get("X-Amz-Target")
	name := eventsapi.Action(target)
	write := func(status int, b []byte) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("x-amzn-RequestId", c.requestID)
		w.WriteHeader(status)
		w.Write(b)
	}
	fail := func(code, msg string) (string, string, int) {
		b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
		write(http.StatusBadRequest, b)
		s.finish(c, nil, failureOf(code, msg, http.StatusBadRequest))
		return action, code, http.StatusBadRequest
	}
	action = "events" // keeps metric labels bounded
	if s.cfg.Events != nil && eventsapi.Known(name) {
		action = name
	}
	if err := s.authenticate(c, r, body, "events"); err != nil {
		code, msg := jsonAuthError(err)
		return fail(code, msg)
	}
	if s.cfg.Events == nil {
		return fail("UnknownOperationException", "EventBridge is not served.")
	}
	if eventsapi.Known(name) {
		s.startRecording(c, r, trail.Events, name, nil, eventsapi.RequestParameters(name, body))
	}
	if err := s.authorizeEvents(r, c, name, body); err != "" {
		return fail(jsonAccessDenied, err)
	}
	res := s.cfg.Events.Serve(c.ctx, c.tenant.Account, c.tenant.Region, target, body)
	write(res.Status, res.Body)
	var failure *trail.Failure
	if res.Code != "" {
		failure = failureOf(res.Code, res.Message, res.Status)
	}
	s.finish(c, nil, failure)
	return action, res.Code, res.Status
}

// authorizeEvents decides events:<Action> for an IAM principal (root may do everything in its
// account): on the rule's ARN for the actions that name a rule, else on "*". It returns the
// denial's message, or "".
func (s *Server) authorizeEvents(r *http.Request, c *call, action string, body []byte) string {
	p := c.principal
	if p == nil || p.Kind == iam.RootPrincipal {
		return ""
	}
	resource := "*"
	var named struct{ Name, Rule string }
	if json.Unmarshal(body, &named) == nil {
		if n := named.Name + named.Rule; n != "" && (named.Rule != "" || isRuleAction(action)) {
			resource = fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", c.tenant.Region, c.tenant.Account, n)
		}
	}
	info := authz.InfoOf(r, c.tenant.Region, s.now())
	d, _, err := s.cfg.Authorizer.Decide(*p, &iampolicy.Request{Action: "events:" + action,
		Resources: []iampolicy.Resource{{ARN: resource}}, Context: authz.PrincipalContext(*p, &info)})
	if err == nil && d.Allowed {
		return ""
	}
	return fmt.Sprintf("User: %s is not authorized to perform: events:%s on resource: %s", p.ARN, action, resource)
}

func isRuleAction(action string) bool {
	switch action {
	case "PutRule", "DescribeRule", "DeleteRule", "EnableRule", "DisableRule":
		return true
	}
	return false
}
