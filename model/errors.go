package model

import "errors"

// Error is a failure the API reports to the client: an EC2 error code (what SDKs branch on), a
// public message, and optionally an internal cause that is logged but never sent. Errors are
// made from the catalogue's codes (codes.go).
type Error struct {
	Code    string
	Message string
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.Message + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// WithCause sets the internal cause (logged, never sent) and returns e.
func (e *Error) WithCause(cause error) *Error {
	e.Cause = cause
	return e
}

// Internal hides a failure's text from clients while keeping it for the log. An *Error in
// err's chain is already fit for the client and is returned as it is.
func Internal(err error) *Error {
	var me *Error
	if errors.As(err, &me) {
		return me
	}
	return InternalError.New().WithCause(err)
}

// InvalidValue is the common InvalidParameterValue error.
func InvalidValue(format string, args ...any) *Error {
	return InvalidParameterValue.Errorf(format, args...)
}

// Missing is the MissingParameter error for a required request parameter.
func Missing(name string) *Error { return MissingParameter.New(name) }
