package openapitest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-dev/herald/internal/openapitest"
)

// thingsDocument is a small API: a list and a creation with their errors,
// a literal path beside a parameter, and a deletion without a body.
const thingsDocument = `{
  "openapi": "3.1.0",
  "info": {"title": "Things", "version": "1"},
  "paths": {
    "/api/0/things/": {
      "get": {
        "parameters": [{"name": "status", "in": "query", "schema": {"type": "string", "enum": ["open"]}}],
        "responses": {
          "200": {"description": "The things.", "headers": {"Link": {"schema": {"type": "string"}}},
                  "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}}}}
        }
      },
      "post": {
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}}},
        "responses": {
          "201": {"description": "The thing.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
          "400": {"description": "Invalid.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Detail"}}}}
        }
      }
    },
    "/api/0/things/special/": {
      "get": {"responses": {"200": {"description": "The special thing.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}}
    },
    "/api/0/things/{id}/": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "delete": {"responses": {"204": {"description": "Deleted."}}}
    }
  },
  "components": {"schemas": {
    "Thing": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"], "additionalProperties": false},
    "Detail": {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"], "additionalProperties": false}
  }}
}`

func newThingsChecker(t *testing.T) *openapitest.Checker {
	t.Helper()
	c, err := openapitest.New([]byte(thingsDocument))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exchange builds an exchange: a request with a JSON body (none when "")
// and a JSON answer.
func exchange(method, target, reqBody string, status int, respBody string) *openapitest.Exchange {
	r := httptest.NewRequest(method, target, strings.NewReader(reqBody))
	if reqBody != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	h := http.Header{}
	if respBody != "" {
		h.Set("Content-Type", "application/json")
	}
	return &openapitest.Exchange{Request: r, RequestBody: []byte(reqBody), RequestBodyComplete: true,
		Status: status, Header: h, Body: []byte(respBody), BodyComplete: true}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	c := newThingsChecker(t)
	withHeader := func(e *openapitest.Exchange, k, v string) *openapitest.Exchange {
		e.Header.Set(k, v)
		return e
	}
	incomplete := exchange("POST", "/api/0/things/", `{"na`, 201, `{"id":"1"}`)
	incomplete.RequestBodyComplete = false
	tests := []struct {
		name string
		e    *openapitest.Exchange
		// want is a part of the one problem expected, "" for none.
		want string
	}{
		{"OK", withHeader(exchange("GET", "/api/0/things/", "", 200, `[{"id":"1"}]`), "Link", "<x>"), ""},
		{"WithoutTrailingSlash", exchange("GET", "/api/0/things", "", 200, `[]`), ""},
		{"OutsideTheAPI", exchange("GET", "/healthz", "", 200, `{"anything":1}`), ""},
		{"UndocumentedField", exchange("GET", "/api/0/things/", "", 200, `[{"id":"1","extra":1}]`), "extra"},
		{"MissingField", exchange("GET", "/api/0/things/", "", 200, `[{}]`), "id"},
		{"WrongType", exchange("GET", "/api/0/things/", "", 200, `{"id":"1"}`), "array"},
		{"UndocumentedStatus", exchange("GET", "/api/0/things/", "", 202, `[]`), "status 202 is not documented"},
		{"UndocumentedRoute", exchange("GET", "/api/0/nothing/", "", 200, `{}`), "no path of the document matches"},
		{"UnknownRouteNotFound", exchange("GET", "/api/0/nothing/", "", 404, `{"detail":"x"}`), ""},
		{"UndocumentedMethod", exchange("PUT", "/api/0/things/", `{"name":"a"}`, 200, `{}`), "PUT /api/0/things/ is not documented"},
		{"MethodNotAllowed", exchange("PUT", "/api/0/things/", `{}`, 405, `{"detail":"x"}`), ""},
		{"AcceptedInvalidBody", exchange("POST", "/api/0/things/", `{"name":1}`, 201, `{"id":"1"}`), "calls invalid"},
		{"RefusedInvalidBody", exchange("POST", "/api/0/things/", `{}`, 400, `{"detail":"name is required"}`), ""},
		{"AcceptedInvalidQuery", exchange("GET", "/api/0/things/?status=closed", "", 200, `[]`), "calls invalid"},
		{"UnreadBodyNotJudged", incomplete, ""},
		{"LiteralBeatsParameter", exchange("GET", "/api/0/things/special/", "", 200, `{"id":"s"}`), ""},
		{"UndeclaredHeader", withHeader(exchange("GET", "/api/0/things/special/", "", 200, `{"id":"s"}`), "Link", "<x>"), "Link header"},
		{"NoContent", exchange("DELETE", "/api/0/things/1/", "", 204, ""), ""},
		{"BodyOnNoContent", exchange("DELETE", "/api/0/things/1/", "", 204, `{"id":"1"}`), "documented without a body"},
		{"DotSegmentNotFound", exchange("DELETE", "/api/0/things/../", "", 404, `{"detail":"x"}`), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			problems := c.Check(tt.e)
			switch {
			case tt.want == "" && len(problems) > 0:
				t.Errorf("problems = %q, want none", problems)
			case tt.want != "" && len(problems) != 1:
				t.Errorf("problems = %q, want one about %q", problems, tt.want)
			case tt.want != "" && !strings.Contains(problems[0], tt.want):
				t.Errorf("problem = %q, want one about %q", problems[0], tt.want)
			}
		})
	}
}

// recordingTB records the failures reported to it.
type recordingTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recordingTB) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errors...)
}

// TestMiddleware serves the things API through the middleware and checks
// that it passes requests and answers through unchanged and fails the test
// on an answer the document does not allow.
func TestMiddleware(t *testing.T) {
	t.Parallel()
	c := newThingsChecker(t)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		// The handler reaches the connection through the recorder.
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("response controller: %v", err)
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST" && string(body) == `{"name":"ok"}`:
			w.WriteHeader(201)
			_, _ = io.WriteString(w, `{"id":"1"}`)
		case r.Method == "POST":
			w.WriteHeader(201)
			_, _ = io.WriteString(w, `{"id":1}`)
		default:
			_, _ = io.WriteString(w, `[]`)
		}
	})
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantBody                 string
		wantFailures             int
	}{
		{"Documented", "POST", "/api/0/things/", `{"name":"ok"}`, 201, `{"id":"1"}`, 0},
		{"Undocumented", "POST", "/api/0/things/", `{"name":"bad"}`, 201, `{"id":1}`, 1},
		{"OutsideTheAPI", "POST", "/other/", `{"name":"bad"}`, 201, `{"id":1}`, 0},
		{"List", "GET", "/api/0/things/", "", 200, `[]`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recordingTB{TB: t}
			srv := httptest.NewServer(c.Middleware(rec, api))
			defer srv.Close()
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.wantStatus || string(got) != tt.wantBody {
				t.Errorf("answer = %d %s, want %d %s", res.StatusCode, got, tt.wantStatus, tt.wantBody)
			}
			if f := rec.failures(); len(f) != tt.wantFailures {
				t.Errorf("failures = %q, want %d", f, tt.wantFailures)
			}
		})
	}
}

func TestValidateDocument(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		ok   bool
	}{
		{"OpenAPI31", thingsDocument, true},
		{"OpenAPI30", strings.Replace(thingsDocument, `"3.1.0"`, `"3.0.3"`, 1), false},
		{"NoInfo", strings.Replace(thingsDocument, `"info": {"title": "Things", "version": "1"},`, "", 1), false},
		{"BadResponses", strings.Replace(thingsDocument, `"204": {"description": "Deleted."}`, `"204": {"content": 1}`, 1), false},
		{"NotJSON", "{", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			problems := openapitest.ValidateDocument([]byte(tt.doc))
			if tt.ok != (len(problems) == 0) {
				t.Errorf("problems = %q, want ok = %t", problems, tt.ok)
			}
		})
	}
}

// TestDefault checks that the document Herald serves compiles and that its
// schemas are closed: a field the code does not send is a failure.
func TestDefault(t *testing.T) {
	t.Parallel()
	c, err := openapitest.Default()
	if err != nil {
		t.Fatal(err)
	}
	hook := `{"id":"0852089016bcec03fbc6bcf06301562e","dateCreated":"2024-01-15T12:00:00.000000Z","url":"https://example.com/h","events":[],"status":"active"}`
	extra := strings.Replace(hook, `"status"`, `"owner":null,"status"`, 1)
	badTime := strings.Replace(hook, "2024-01-15T12:00:00.000000Z", "yesterday", 1)
	path := "/api/0/projects/acme/web/hooks/0852089016bcec03fbc6bcf06301562e/"
	document := exchange("GET", "/api/0/openapi.json", "", 200, `{"openapi":"3.1.0"}`)
	document.Header.Set("ETag", `"abc"`)
	document.Header.Set("Cache-Control", "public, max-age=300")
	tests := []struct {
		name string
		e    *openapitest.Exchange
		ok   bool
	}{
		{"Hook", exchange("GET", path, "", 200, hook), true},
		{"HookWithoutSlash", exchange("GET", strings.TrimSuffix(path, "/"), "", 200, hook), true},
		{"UndocumentedField", exchange("GET", path, "", 200, extra), false},
		{"NotATime", exchange("GET", path, "", 200, badTime), false},
		{"NotFound", exchange("GET", path, "", 404, `{"detail":"The requested resource does not exist"}`), true},
		{"Teapot", exchange("GET", path, "", 418, `{"detail":"x"}`), false},
		{"Document", document, true},
		{"DocumentWithoutETag", exchange("GET", "/api/0/openapi.json", "", 200, `{"openapi":"3.1.0"}`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.e.Request.Header.Set("Authorization", "Bearer a-token")
			if problems := c.Check(tt.e); tt.ok != (len(problems) == 0) {
				t.Errorf("problems = %q, want ok = %t", problems, tt.ok)
			}
		})
	}
	if ops := c.Operations(); len(ops) < 60 {
		t.Errorf("the document has %d operations; expected the whole API", len(ops))
	}
}
