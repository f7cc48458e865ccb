package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/herald-dev/herald"
)

// Page sizes, as Sentry's paginators have them.
const (
	defaultPerPage = 100
	maxPerPage     = 100
)

// Cursors of links that lead nowhere. They look like Sentry's
// "value:offset:is_prev" cursors; a request that sends one back gets the
// first page.
const (
	noPrevCursor = "0:0:1"
	noNextCursor = "0:0:0"
)

// pageFromRequest reads ?cursor= and ?per_page=.
func pageFromRequest(r *http.Request) (herald.Page, error) {
	q := r.URL.Query()
	page := herald.Page{Cursor: q.Get("cursor"), Limit: defaultPerPage}
	if page.Cursor == noPrevCursor || page.Cursor == noNextCursor {
		page.Cursor = ""
	}
	if len(page.Cursor) > 256 {
		return page, herald.Errorf(herald.EINVALID, "Invalid cursor parameter.")
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return page, herald.Errorf(herald.EINVALID, "Invalid per_page parameter.")
		} else if n > maxPerPage {
			return page, herald.Errorf(herald.EINVALID, "Invalid per_page parameter. Max is %d", maxPerPage)
		}
		page.Limit = n
	}
	return page, nil
}

// setLinkHeader writes Sentry's pagination Link header for a page whose next
// cursor is next ("" when there are no more results). Herald's cursors only
// go forward, so the previous link never has results; clients (sentry-cli
// among them) follow rel="next" while results="true", reading its cursor
// attribute.
func (s *Server) setLinkHeader(w http.ResponseWriter, r *http.Request, next string) {
	base := s.absoluteURL(r, r.URL.Path)
	q := r.URL.Query()
	q.Del("cursor")
	base += "?" + q.Encode()
	hasNext := next != ""
	if !hasNext {
		next = noNextCursor
	}
	w.Header().Set("Link", strings.Join([]string{
		cursorLink(base, "previous", noPrevCursor, false),
		cursorLink(base, "next", next, hasNext),
	}, ", "))
}

// cursorLink formats one link of the Link header exactly as Sentry does:
// <URL&cursor=C>; rel="R"; results="B"; cursor="C".
func cursorLink(base, rel, cursor string, results bool) string {
	escaped := strings.ReplaceAll(url.QueryEscape(cursor), "%3A", ":")
	return fmt.Sprintf(`<%s&cursor=%s>; rel=%q; results="%t"; cursor=%q`, base, escaped, rel, results, cursor)
}

// absoluteURL returns path on Herald's public URL. Without a configured
// BaseURL the request's own host is used.
func (s *Server) absoluteURL(r *http.Request, path string) string {
	if s.baseURL == nil {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		return scheme + "://" + r.Host + path
	}
	prefix := s.baseURL.Path
	if prefix != "" && strings.HasPrefix(path, prefix+"/") {
		prefix = ""
	}
	return s.baseURL.Scheme + "://" + s.baseURL.Host + prefix + path
}
