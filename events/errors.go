package events

import "fmt"

// EventBridge's error codes (botocore events 2015-10-07). They are EventBridge's, not EC2's,
// so they live here rather than in the EC2 catalogue (as CloudTrail's live in package
// trail); the JSON protocol sends them bare in __type, with status 400 (500 for Internal).
const (
	CodeResourceNotFound      = "ResourceNotFoundException"
	CodeResourceAlreadyExists = "ResourceAlreadyExistsException"
	CodeInvalidEventPattern   = "InvalidEventPatternException"
	CodeLimitExceeded         = "LimitExceededException"
	CodeValidation            = "ValidationException"
	CodeInternal              = "InternalException"
	// CodeConcurrentModification: a write on a shared store decided on memory another
	// server had changed (shared.go); EventBridge's code and text, status 400 as every code
	// but InternalException [status UNCONFIRMED].
	CodeConcurrentModification = "ConcurrentModificationException"
)

// Error is a refusal in EventBridge's words: Code for __type, Message for message.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// validation is AWS's generated-model refusal of one member ("1 validation error detected:
// Value 'x' at 'name' failed to satisfy constraint: …").
func validation(value, member, constraint string) *Error {
	return errorf(CodeValidation, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, member, constraint)
}
