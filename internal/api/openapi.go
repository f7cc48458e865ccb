package api

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// openAPIDocument is the OpenAPI 3.1 description of every /api/0/ route,
// served as it is. Tests check every exchange of the end-to-end suites
// against it (internal/openapitest), so it describes what the code does.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPIETag names the document's version for caches.
var openAPIETag = func() string {
	sum := sha256.Sum256(openAPIDocument)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// OpenAPI returns the OpenAPI 3.1 document that describes /api/0/, as
// GET /api/0/openapi.json serves it.
func OpenAPI() []byte { return slices.Clone(openAPIDocument) }

// handleOpenAPI answers GET /api/0/openapi.json with the document, to
// anyone: like GET /api/0/, it takes no token, but a token that is sent
// must be valid. It carries an ETag, and a request whose If-None-Match
// names it gets 304.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	if _, ok := bearerToken(r); ok {
		if _, err := s.authenticate(r); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	h := w.Header()
	h.Set("ETag", openAPIETag)
	h.Set("Cache-Control", "public, max-age=300")
	if etagMatches(r.Header.Get("If-None-Match"), openAPIETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(openAPIDocument)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(openAPIDocument)
	}
}

// etagMatches reports whether an If-None-Match header names etag (weakly,
// as RFC 9110 compares for If-None-Match) or is "*".
func etagMatches(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == "*" || v == etag {
			return true
		}
	}
	return false
}
