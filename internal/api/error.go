package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/herald-dev/herald"
)

// Messages Sentry answers with, word for word.
const (
	msgNoCredentials = "Authentication credentials were not provided."
	msgInvalidToken  = "Invalid token"
	msgTokenExpired  = "Token expired"
	msgForbidden     = "You do not have permission to perform this action."
	msgPersonalOnly  = "This action is not available to an integration's token: use a personal token."
	msgNotFound      = "The requested resource does not exist"
	msgInternal      = "Internal error."
	msgUnavailable   = "The service is temporarily unavailable: try again later."
)

// maxBodySize bounds every JSON request body.
const maxBodySize = 1 << 20

// responseError is an error that carries its own status and response body,
// for answers whose shape is not {"detail": "..."}: serializer validation
// errors and the unavailable-feature answer.
type responseError struct {
	status int
	body   any
}

func (e *responseError) Error() string {
	return fmt.Sprintf("api: status %d: %v", e.status, e.body)
}

// errUnavailableFeature is Sentry's answer to a request for a project feature
// that is not enabled, such as Service Hooks without "servicehooks".
var errUnavailableFeature = &responseError{
	status: http.StatusForbidden,
	body: map[string]any{
		"error_type": "unavailable_feature",
		"detail":     []string{"You do not have that feature enabled"},
	},
}

// errorStatus maps an application error code to an HTTP status.
func errorStatus(code string) int {
	switch code {
	case herald.EINVALID:
		return http.StatusBadRequest
	case herald.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case herald.EFORBIDDEN:
		return http.StatusForbidden
	case herald.ENOTFOUND:
		return http.StatusNotFound
	case herald.ECONFLICT:
		return http.StatusConflict
	case herald.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case herald.ERATELIMITED:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// writeError writes err as the response. Application errors show their
// message; anything else is logged with the real error and shown only as
// "Internal error.".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var re *responseError
	var fe herald.FieldErrors
	switch {
	case errors.As(err, &re):
		writeJSON(w, re.status, re.body)
		return
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, map[string][]string(fe))
		return
	}
	code := herald.ErrorCode(err)
	if code == herald.EINTERNAL && s.unavailable(err) {
		w.Header().Set("Retry-After", retryAfterUnavailable)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"detail": msgUnavailable})
		return
	}
	status := errorStatus(code)
	msg := herald.ErrorMessage(err)
	switch {
	case code == herald.ENOTFOUND:
		msg = msgNotFound
	case status == http.StatusInternalServerError:
		s.logger.LogAttrs(r.Context(), slog.LevelError, "api: internal error",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
		msg = msgInternal
	}
	writeJSON(w, status, map[string]string{"detail": msg})
}

// retryAfterUnavailable is the Retry-After, in seconds, of a 503.
const retryAfterUnavailable = "5"

// writeJSON writes v as a JSON response with the given status. URLs and
// messages are written as they are, without HTML escaping, as Sentry does.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Every response type is a plain struct or map; failing to encode
		// one is a programming error.
		panic(fmt.Sprintf("api: encode response: %v", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// decodeJSON reads the request body, at most maxBodySize bytes, into dst.
// An empty body leaves dst as it is; unknown fields are ignored.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodySize)
	dec := json.NewDecoder(r.Body)
	err := dec.Decode(dst)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON value")
	}
	var tooLarge *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooLarge):
		return herald.Errorf(herald.ETOOLARGE, "Request body is larger than %d bytes.", maxBodySize)
	case errors.Is(err, io.EOF):
		return nil
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return herald.InvalidField(typeErr.Field, typeMessage(typeErr))
	}
	return herald.Errorf(herald.EINVALID, "Malformed request body: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// typeMessage phrases a JSON type mismatch as Sentry's serializers do.
func typeMessage(e *json.UnmarshalTypeError) string {
	switch e.Type.Kind().String() {
	case "string":
		return "Not a valid string."
	case "slice", "array":
		return fmt.Sprintf("Expected a list of items but got type %q.", e.Value)
	case "bool":
		return "Must be a valid boolean."
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "A valid integer is required."
	case "map", "struct":
		return fmt.Sprintf("Expected a dictionary of items but got type %q.", e.Value)
	}
	return "Invalid value."
}
