package ec2api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/stockade/stockade/model"
)

// statusOf maps an EC2 error code to its HTTP status (spec §8.3): 400 for client errors,
// including every NotFound, DependencyViolation and LimitExceeded.
func statusOf(code string) int {
	switch code {
	case "AuthFailure":
		return http.StatusUnauthorized
	case "UnauthorizedOperation", "Blocked", "OptInRequired":
		return http.StatusForbidden
	case "DryRunOperation":
		return http.StatusPreconditionFailed
	case "InternalError", "InternalFailure":
		return http.StatusInternalServerError
	case "Unavailable", "RequestLimitExceeded", "ServiceUnavailable":
		return http.StatusServiceUnavailable
	case "RequestEntityTooLarge":
		return http.StatusRequestEntityTooLarge
	case "RequestTimeout":
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}

// asAPIError turns any error into what the client is told. An error that is not an
// *model.Error is internal: the client gets InternalError and never its text.
func asAPIError(err error) *model.Error {
	var me *model.Error
	if errors.As(err, &me) {
		return me
	}
	return &model.Error{Code: "InternalError", Message: "An internal error has occurred", Cause: err}
}

// writeError renders EC2's error envelope: <Response><Errors><Error>…</Errors><RequestID>.
func writeError(w http.ResponseWriter, requestID string, e *model.Error) int {
	var x xmlWriter
	x.b = append(x.b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"...)
	x.open("Response")
	x.open("Errors")
	x.open("Error")
	x.str("Code", e.Code)
	x.str("Message", e.Message)
	x.close("Error")
	x.close("Errors")
	x.str("RequestID", requestID)
	x.close("Response")
	status := statusOf(e.Code)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	w.Write(x.b)
	return status
}

// isClientCode reports whether code is the client's fault (for logging levels).
func isClientCode(code string) bool {
	return !strings.HasPrefix(code, "Internal") && code != "Unavailable"
}
