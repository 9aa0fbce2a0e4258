package ec2api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/stockade/stockade/logstore"
	"github.com/stockade/stockade/logstore/logsapi"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/trail"
)

// This file mounts the CloudWatch Logs API (package logstore/logsapi) on the EC2 endpoint,
// as CloudTrail's LookupEvents and S3 are (trail.go, s3.go): authenticated (service logs),
// authorized (logs:<Action> on the log group's ARN) by the same Authorizer, and, for
// management calls only, recorded in the trail (eventSource logs.amazonaws.com).

func isLogs(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("X-Amz-Target"), logsapi.TargetPrefix)
}

// serveLogs answers a CloudWatch Logs call for the caller's account in the region its
// signature names; with no Logs configured it answers UnknownOperationException.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request, c *call, body []byte) (action, code string, status int) {
	target := r.Header.Get("X-Amz-Target")
	name := strings.TrimPrefix(target, logsapi.TargetPrefix)
	action = "logs"
	write := func(res logsapi.Result) (string, string, int) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("x-amzn-RequestId", c.requestID)
		w.WriteHeader(res.Status)
		w.Write(res.Body)
		if res.Err != nil {
			s.finish(c, nil, failureOf(res.Err.Code, res.Err.Message, res.Status))
			return action, res.Err.Code, res.Status
		}
		s.finish(c, nil, nil)
		return action, "", res.Status
	}
	if err := s.authenticate(c, r, body, "logs"); err != nil {
		code, msg := jsonAuthError(err)
		b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		w.Write(b)
		return action, code, http.StatusBadRequest
	}
	if s.cfg.Logs == nil {
		return write(logsapi.ErrorResult(model.LogsUnknownOperation.Errorf("CloudWatch Logs is not served.")))
	}
	if logsapi.Management(name) {
		s.startRecording(c, r, trail.Logs, name, nil, jsonParams(body))
	}
	if known(name) {
		action = name // keeps metric labels bounded
	}
	sc := logstore.Scope{Account: c.tenant.Account, Region: c.tenant.Region}
	arn := "*"
	if g := logsapi.Peek(body); g != "" {
		arn = logstore.GroupARN(sc, g)
	}
	if err := s.authorizeARN(c, r, "logs:"+name, arn); err != nil {
		e := model.Internal(err)
		if e.Code != model.InternalError.Name {
			e = model.LogsAccessDenied.Errorf("User: %s is not authorized to perform: logs:%s on resource: %s", c.principal.ARN, name, arn)
		}
		return write(logsapi.ErrorResult(e))
	}
	return write(s.cfg.Logs.Serve(sc, name, body))
}

func known(action string) bool {
	switch action {
	case "CreateLogGroup", "DeleteLogGroup", "DescribeLogGroups", "CreateLogStream", "DescribeLogStreams",
		"PutLogEvents", "GetLogEvents", "FilterLogEvents":
		return true
	}
	return false
}
