package model

import "fmt"

// Error is a failure the API reports to the client: an EC2 error code (what SDKs branch on), a
// public message, and optionally an internal cause that is logged but never sent.
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

// Errorf builds an *Error with a formatted public message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidValue is the common InvalidParameterValue error.
func InvalidValue(format string, args ...any) *Error {
	return Errorf("InvalidParameterValue", format, args...)
}

// Missing is the MissingParameter error for a required request parameter.
func Missing(name string) *Error {
	return Errorf("MissingParameter", "The request must contain the parameter %s", name)
}
