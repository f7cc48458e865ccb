// Package openapitest checks HTTP traffic to Herald's API against its
// OpenAPI document (internal/api/openapi.json), so that the document cannot
// drift from what the server does.
//
// Tests install Middleware around the server's handler. Every exchange under
// /api/0/ is then checked: the route, method and status code must be
// documented, the response's headers and body must match their schemas, and
// a request the server accepted (2xx) must be one the document calls valid.
// A request the server refused may break the document's rules: tests send
// such requests on purpose.
package openapitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/herald-dev/herald/internal/api"
)

// Prefix is the part of the URL space the document describes.
const Prefix = "/api/0/"

// maxRecorded bounds the bytes of a request or response body kept for
// checking; a longer body is checked for its status and headers only.
const maxRecorded = 8 << 20

// Checker checks exchanges against one OpenAPI document. It is safe for
// concurrent use.
type Checker struct {
	model     *v3.Document
	validator validator.Validator
	routes    []template
}

// template is a path of the document, split into segments; a segment in
// braces matches any value.
type template struct {
	path     string
	segments []string
	slash    bool
	item     *v3.PathItem
}

// New compiles an OpenAPI 3.1 document into a Checker.
func New(doc []byte) (*Checker, error) {
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: parse: %w", err)
	}
	m, err := d.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("openapi: build model: %w", err)
	}
	v, errs := validator.NewValidator(d, config.WithFormatAssertions())
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapi: build validator: %v", errs)
	}
	c := &Checker{model: &m.Model, validator: v}
	if m.Model.Paths != nil {
		for path, item := range m.Model.Paths.PathItems.FromOldest() {
			c.routes = append(c.routes, template{path: path, segments: split(path), slash: strings.HasSuffix(path, "/"), item: item})
		}
	}
	return c, nil
}

// Default returns the Checker of the document Herald serves (api.OpenAPI),
// compiled once per process.
var Default = sync.OnceValues(func() (*Checker, error) { return New(api.OpenAPI()) })

// ValidateDocument checks doc against the OpenAPI specification's own
// schema (3.1 for a 3.1 document) and returns what breaks it.
func ValidateDocument(doc []byte) []string {
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		return []string{err.Error()}
	}
	if v := d.GetVersion(); !strings.HasPrefix(v, "3.1.") {
		return []string{fmt.Sprintf("openapi version %q, want 3.1.x", v)}
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		return []string{fmt.Sprint(errs)}
	}
	ok, verrs := v.ValidateDocument()
	if ok {
		return nil
	}
	return describe(verrs)
}

// Operations returns every operation of the document as "METHOD path".
func (c *Checker) Operations() []string {
	var ops []string
	for _, t := range c.routes {
		for method := range t.item.GetOperations().FromOldest() {
			ops = append(ops, strings.ToUpper(method)+" "+t.path)
		}
	}
	return ops
}

// Exchange is a request and the server's answer to it.
type Exchange struct {
	// Request is the request as the server got it; its body is ignored.
	Request *http.Request
	// RequestBody is what the server read of the body, and
	// RequestBodyComplete whether that was all of it.
	RequestBody         []byte
	RequestBodyComplete bool
	// Status, Header and Body are the answer.
	Status int
	Header http.Header
	Body   []byte
	// BodyComplete is false when Body was cut to its first bytes.
	BodyComplete bool
}

// Check returns what the document does not allow in e, or nil. Paths
// outside Prefix are not checked.
func (c *Checker) Check(e *Exchange) []string {
	r := e.Request
	if !strings.HasPrefix(r.URL.Path, Prefix) {
		return nil
	}
	t, values := c.match(r.URL.Path)
	if t == nil {
		// The server answers an unknown path with a JSON 404.
		if e.Status == http.StatusNotFound {
			return nil
		}
		return []string{fmt.Sprintf("no path of the document matches %s, but the server answered %d", r.URL.Path, e.Status)}
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	op := t.item.GetOperations().GetOrZero(strings.ToLower(method))
	if op == nil {
		if e.Status == http.StatusMethodNotAllowed {
			return nil
		}
		return []string{fmt.Sprintf("%s %s is not documented, but the server answered %d", method, t.path, e.Status)}
	}

	// The request as the document names it: its path with the document's
	// trailing slash.
	u := *r.URL
	u.Path, u.RawPath = fill(t, values), ""
	req := r.Clone(r.Context())
	req.Method, req.URL, req.RequestURI = method, &u, ""
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(e.RequestBody)), int64(len(e.RequestBody))

	var problems []string
	if e.Status >= 200 && e.Status < 300 {
		if ok, errs := c.validator.ValidateHttpRequestSync(req); !ok {
			if !e.RequestBodyComplete {
				// What the server did not read cannot be checked.
				errs = slices.DeleteFunc(errs, func(ve *verrors.ValidationError) bool {
					return ve.ValidationType == helpers.RequestBodyValidation
				})
			}
			for _, p := range describe(errs) {
				problems = append(problems, fmt.Sprintf("the server answered %d to a request the document calls invalid: %s", e.Status, p))
			}
		}
	}

	resp := &http.Response{StatusCode: e.Status, Header: e.Header, Request: req, Body: io.NopCloser(bytes.NewReader(e.Body))}
	documented := op.Responses.Codes.GetOrZero(fmt.Sprint(e.Status))
	if documented != nil {
		problems = append(problems, undeclaredHeaders(e.Header, documented)...)
	}
	switch {
	case documented == nil:
		problems = append(problems, fmt.Sprintf("status %d is not documented for %s %s", e.Status, method, t.path))
	case r.Method == http.MethodHead || !e.BodyComplete:
		// Only the status can be checked.
	case documented.Content == nil || documented.Content.Len() == 0:
		if len(e.Body) > 0 {
			problems = append(problems, fmt.Sprintf("status %d of %s %s is documented without a body, but the server sent %d bytes", e.Status, method, t.path, len(e.Body)))
		}
	default:
		if ok, errs := c.validator.ValidateHttpResponse(req, resp); !ok {
			problems = append(problems, describe(errs)...)
		}
	}
	return problems
}

// checkedHeaders are the response headers of Herald's API that its
// document must declare where they are sent. (The validator checks the
// headers a response declares, but not that a header sent is declared.)
var checkedHeaders = []string{"Link", "Retry-After", "ETag", "Cache-Control"}

// undeclaredHeaders returns a problem for each of checkedHeaders that the
// response carries but its documentation does not declare.
func undeclaredHeaders(h http.Header, documented *v3.Response) []string {
	var problems []string
	for _, name := range checkedHeaders {
		if h.Get(name) == "" {
			continue
		}
		declared := false
		if documented.Headers != nil {
			for k := range documented.Headers.KeysFromOldest() {
				declared = declared || strings.EqualFold(k, name)
			}
		}
		if !declared {
			problems = append(problems, fmt.Sprintf("the response carries a %s header its documentation does not declare", name))
		}
	}
	return problems
}

// match finds the document's path for a request path, with the values of
// its parameters. Trailing slashes do not count, as the server answers with
// and without them; a literal segment beats a parameter.
func (c *Checker) match(path string) (*template, []string) {
	segs := split(path)
	var best *template
	var bestValues []string
	bestLiterals := -1
	for i := range c.routes {
		t := &c.routes[i]
		if len(t.segments) != len(segs) {
			continue
		}
		literals, ok := 0, true
		var values []string
		for j, s := range t.segments {
			switch {
			case strings.HasPrefix(s, "{"):
				// No id is empty or a dot segment.
				if v := segs[j]; v == "" || v == "." || v == ".." {
					ok = false
				}
				values = append(values, segs[j])
			case s == segs[j]:
				literals++
			default:
				ok = false
			}
			if !ok {
				break
			}
		}
		if ok && literals > bestLiterals {
			best, bestValues, bestLiterals = t, values, literals
		}
	}
	return best, bestValues
}

// split returns the segments of a path without its leading and trailing
// slashes.
func split(path string) []string {
	return strings.Split(strings.Trim(path, "/"), "/")
}

// fill rebuilds a template's path with values for its parameters, escaped
// for a URL path.
func fill(t *template, values []string) string {
	var b strings.Builder
	i := 0
	for _, s := range t.segments {
		b.WriteByte('/')
		if strings.HasPrefix(s, "{") {
			b.WriteString(url.PathEscape(values[i]))
			i++
			continue
		}
		b.WriteString(s)
	}
	if t.slash {
		b.WriteByte('/')
	}
	return b.String()
}

// describe turns validation errors into one line each, with the schema
// failures that make them.
func describe(errs []*verrors.ValidationError) []string {
	var out []string
	for _, e := range errs {
		msg := e.Message
		if e.Reason != "" {
			msg += ": " + e.Reason
		}
		for _, f := range e.SchemaValidationErrors {
			where := f.FieldPath
			if where == "" {
				where = "/" + strings.Join(f.InstancePath, "/")
			}
			msg += fmt.Sprintf("; at %s: %s", where, f.Reason)
		}
		out = append(out, msg)
	}
	return out
}

// Middleware serves next and checks every exchange under Prefix with the
// Default checker, failing tb (Errorf) on what the document does not allow.
func Middleware(tb testing.TB, next http.Handler) http.Handler {
	tb.Helper()
	c, err := Default()
	if err != nil {
		tb.Fatalf("openapi document: %v", err)
	}
	return c.Middleware(tb, next)
}

// Middleware serves next and checks every exchange under Prefix, failing
// tb (Errorf) on what the document does not allow.
func (c *Checker) Middleware(tb testing.TB, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, Prefix) {
			next.ServeHTTP(w, r)
			return
		}
		body := &recordingBody{ReadCloser: r.Body}
		if r.Body == nil || r.Body == http.NoBody {
			body.eof = true
		} else {
			r.Body = body
		}
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		e := &Exchange{Request: r, RequestBody: body.buf.Bytes(), RequestBodyComplete: body.eof && !body.cut,
			Status: rec.status, Header: rec.header, Body: rec.buf.Bytes(), BodyComplete: !rec.cut}
		if e.Status == 0 {
			e.Status = http.StatusOK
		}
		if e.Header == nil {
			e.Header = w.Header().Clone()
		}
		if problems := c.Check(e); len(problems) > 0 {
			tb.Errorf("%s %s: %d %s\ndoes not match the OpenAPI document (internal/api/openapi.json):\n  %s",
				r.Method, r.URL.RequestURI(), e.Status, shorten(e.Body), strings.Join(problems, "\n  "))
		}
	})
}

// shorten cuts a body for a failure message.
func shorten(b []byte) string {
	const n = 600
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// recordingBody keeps what the handler reads of a request body.
type recordingBody struct {
	io.ReadCloser
	buf bytes.Buffer
	eof bool
	cut bool
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.buf.Len()+n > maxRecorded {
		b.cut = true
	} else {
		b.buf.Write(p[:n])
	}
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// recorder keeps the status, headers and body of a response while writing
// them through.
type recorder struct {
	http.ResponseWriter
	status int
	header http.Header
	buf    bytes.Buffer
	cut    bool
}

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 && status >= 200 {
		w.status = status
		w.header = w.ResponseWriter.Header().Clone()
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.buf.Len()+len(p) > maxRecorded {
		w.cut = true
	} else {
		w.buf.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends buffered data to the client, when the writer can.
func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
