package iam

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is one IAM or STS error code with the HTTP status it travels with (§4.4). IAM's codes
// and statuses are not EC2's (NoSuchEntity is a 404, AccessDenied a 403 in an ErrorResponse
// envelope), so they are catalogued here rather than in model/codes.go, whose StatusOf answers
// for EC2; the same rule holds: errors are made from a Code, never from a string.
type Code struct {
	Name   string
	Status int
	// Receiver marks a server-side fault (Type Receiver in the envelope).
	Receiver bool
}

// Error is a failure reported to the client: a code, a public message, and an internal cause
// that is logged but never sent.
type Error struct {
	Code    *Code
	Message string
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Code.Name + ": " + e.Message + ": " + e.Cause.Error()
	}
	return e.Code.Name + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// Errorf returns an error with this code.
func (c *Code) Errorf(format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// The catalogue (§4.4, §5.2–5.6). Statuses are AWS's; ExpiredToken travels as 403 as observed
// in SDK logs although botocore's model says 400 (§5.4).
var (
	NoSuchEntity            = &Code{"NoSuchEntity", http.StatusNotFound, false}
	EntityAlreadyExists     = &Code{"EntityAlreadyExists", http.StatusConflict, false}
	LimitExceeded           = &Code{"LimitExceeded", http.StatusConflict, false}
	DeleteConflict          = &Code{"DeleteConflict", http.StatusConflict, false}
	ConcurrentModification  = &Code{"ConcurrentModification", http.StatusConflict, false}
	MalformedPolicyDocument = &Code{"MalformedPolicyDocument", http.StatusBadRequest, false}
	InvalidInput            = &Code{"InvalidInput", http.StatusBadRequest, false}
	ValidationError         = &Code{"ValidationError", http.StatusBadRequest, false}
	PolicyNotAttachable     = &Code{"PolicyNotAttachable", http.StatusBadRequest, false}
	AccessDenied            = &Code{"AccessDenied", http.StatusForbidden, false}
	InvalidClientTokenID    = &Code{"InvalidClientTokenId", http.StatusForbidden, false}
	ExpiredToken            = &Code{"ExpiredToken", http.StatusForbidden, false}
	PackedPolicyTooLarge    = &Code{"PackedPolicyTooLarge", http.StatusBadRequest, false}
	InvalidAuthorizationMsg = &Code{"InvalidAuthorizationMessageException", http.StatusBadRequest, false}
	InvalidAction           = &Code{"InvalidAction", http.StatusBadRequest, false}
	MissingAction           = &Code{"MissingAction", http.StatusBadRequest, false}
	ServiceFailure          = &Code{"ServiceFailure", http.StatusInternalServerError, true}
	// ServiceUnavailable is AWS's common error for a temporary failure: a shared store that
	// cannot say whether a write committed.
	ServiceUnavailable = &Code{"ServiceUnavailable", http.StatusServiceUnavailable, true}

	// Authentication failures of IAM and STS calls (AWS's common errors; statuses as STS
	// answers the AWS CLI [UNCONFIRMED for IAM]).
	SignatureDoesNotMatch      = &Code{"SignatureDoesNotMatch", http.StatusForbidden, false}
	IncompleteSignature        = &Code{"IncompleteSignature", http.StatusBadRequest, false}
	MissingAuthenticationToken = &Code{"MissingAuthenticationToken", http.StatusForbidden, false}
	RequestExpired             = &Code{"RequestExpired", http.StatusBadRequest, false}
)

// Internal hides a failure's text from the client; an *Error in err's chain is returned as is.
func Internal(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: ServiceFailure, Message: "An internal error has occurred.", Cause: err}
}

// validation is the "1 validation error detected" form AWS gives for a broken model
// constraint; field is the member's name in lower camel case, as AWS writes it.
func validation(value, field, constraint string) *Error { return Invalid(value, field, constraint) }

// Invalid is the "1 validation error detected" error for the Query layer's own checks.
func Invalid(value, field, constraint string) *Error {
	return ValidationError.Errorf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, field, constraint)
}
