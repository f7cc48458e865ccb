package herald

import (
	"errors"
	"fmt"
)

// Application error codes. Packages map them to transport statuses (the API
// maps them to HTTP status codes); everything else treats them as opaque.
const (
	ECONFLICT     = "conflict"
	EFORBIDDEN    = "forbidden"
	EINTERNAL     = "internal"
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	ETOOLARGE     = "too_large"
	EUNAUTHORIZED = "unauthorized"
	ERATELIMITED  = "rate_limited"
)

// Error is an application error: a code for programs and a message that is
// safe to show to the client. Internal failures are plain wrapped errors and
// are shown to clients only as "internal error".
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("herald error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain (EINVALID
// for FieldErrors), EINTERNAL for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	var fe FieldErrors
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	case errors.As(err, &fe):
		return EINVALID
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of the first *Error (or
// FieldErrors) in err's chain, or "Internal error." for any other error.
func ErrorMessage(err error) string {
	var e *Error
	var fe FieldErrors
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	} else if errors.As(err, &fe) {
		return fe.Error()
	}
	return "Internal error."
}
