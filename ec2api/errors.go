package ec2api

import (
	"net/http"
	"strings"

	"github.com/stockade/stockade/model"
)

// statusOf is an EC2 error code's HTTP status, from the catalogue (model/codes.go): 400 for
// client errors, including every NotFound, DependencyViolation and LimitExceeded.
func statusOf(code string) int { return model.StatusOf(code) }

// asAPIError turns any error into what the client is told. An error that is not an
// *model.Error is internal: the client gets InternalError and never its text.
func asAPIError(err error) *model.Error { return model.Internal(err) }

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
