package ingest

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/herald-dev/herald"
)

// ravenEvent is an event as raven-node sends it, over 1,000 bytes as
// raven-go's compressed ones are.
var ravenEvent = []byte(`{"event_id":"5d1f2c7e9a8b4c3d2e1f0a9b8c7d6e5f","message":"TypeError: x is undefined",` +
	`"level":"error","platform":"node","release":"v1.2.3","environment":"production",` +
	`"exception":[{"type":"TypeError","value":"x is undefined","stacktrace":{"frames":[{"filename":"/app/index.js","function":"handler","lineno":7,"in_app":true}]}}],` +
	`"extra":{"pad":"` + strings.Repeat("raven ", 200) + `"}}`)

// ravenEventID is ravenEvent's event_id.
const ravenEventID = "5d1f2c7e9a8b4c3d2e1f0a9b8c7d6e5f"

// ravenAuth returns the X-Sentry-Auth header of an old SDK: protocol
// version, client and, when secret is set, the secret key that SDKs of
// before protocol 7 send.
func ravenAuth(version, client, secret string) http.Header {
	v := "Sentry sentry_version=" + version + ", sentry_timestamp=1705320000000, sentry_client=" + client + ", sentry_key=" + testKey
	if secret != "" {
		v += ", sentry_secret=" + secret
	}
	return http.Header{"X-Sentry-Auth": {v}}
}

// zlibLevel returns b zlib-compressed at a level.
func zlibLevel(tb testing.TB, b []byte, level int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw, err := zlib.NewWriterLevel(&buf, level)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = zw.Write(b)
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// base64Of returns b in standard base64.
func base64Of(b []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(b))
}

// base64Zlib returns what raven-node and raven-ruby send: the base64 of
// the zlib-compressed body.
func base64Zlib(tb testing.TB, b []byte) []byte {
	tb.Helper()
	return base64Of(zlibbed(tb, b))
}

// wrapLines breaks base64 text into lines of n characters, as Ruby's
// Base64.encode64 and Python's base64.encodebytes do.
func wrapLines(b []byte, n int) []byte {
	var out []byte
	for len(b) > n {
		out = append(append(out, b[:n]...), '\n')
		b = b[n:]
	}
	return append(append(out, b...), '\n')
}

// withContentType returns h with a Content-Type.
func withContentType(h http.Header, ct string) http.Header { return withHeader(h, "Content-Type", ct) }

// TestHandler_LegacyStore sends the bodies old SDKs send to the store
// endpoint, with their headers, and what is wrong with them.
func TestHandler_LegacyStore(t *testing.T) {
	t.Parallel()
	node := withContentType(ravenAuth("5", "raven-node/2.6.4", ""), "application/octet-stream")
	ruby := withContentType(ravenAuth("5", "raven-ruby/3.1.2", ""), "application/octet-stream")
	goAuth := http.Header{"X-Sentry-Auth": {"Sentry sentry_version=4, sentry_key=" + testKey + ", sentry_secret=0123456789abcdef0123456789abcdef"}}
	python := withHeader(withContentType(ravenAuth("6", "raven-python/6.10.0", ""), "application/octet-stream"), "Content-Encoding", "deflate")
	b64zlib := base64Zlib(t, ravenEvent)
	truncatedZlib := zlibbed(t, ravenEvent)
	truncatedZlib = truncatedZlib[:len(truncatedZlib)-20]
	badChecksum := zlibbed(t, ravenEvent)
	badChecksum[len(badChecksum)-1] ^= 0xff
	wantEvent := `{"id":"` + ravenEventID + `"}`

	tests := []struct {
		name   string
		header http.Header
		body   []byte
		status int
		resp   string // the response body, or a part of it
	}{
		// What the SDKs send.
		{"RavenNodeBase64Zlib", node, b64zlib, 200, wantEvent},
		{"RavenRubyBase64Zlib", ruby, b64zlib, 200, wantEvent},
		{"RavenGoBase64ZlibBest", withContentType(goAuth, "application/octet-stream"), base64Of(zlibLevel(t, ravenEvent, zlib.BestCompression)), 200, wantEvent},
		{"RavenGoPlainJSON", withContentType(goAuth, "application/json"), ravenEvent, 200, wantEvent},
		{"RavenPythonZlibDeflate", python, zlibbed(t, ravenEvent), 200, wantEvent},
		// The same bodies otherwise labelled, or not at all: Relay reads
		// the body, not its Content-Type.
		{"Base64ZlibNoContentType", ravenAuth("7", "raven-node/2.6.4", ""), b64zlib, 200, wantEvent},
		{"Base64ZlibJSONContentType", withContentType(ravenAuth("6", "raven-ruby/2.13.0", "s3cr3t"), "application/json"), b64zlib, 200, wantEvent},
		{"Base64ZlibSentryVersion7", withContentType(auth(testKey), "application/octet-stream"), b64zlib, 200, wantEvent},
		{"Base64ZlibStored", node, base64Of(zlibLevel(t, ravenEvent, zlib.NoCompression)), 200, wantEvent},
		{"Base64ZlibLines", ruby, wrapLines(b64zlib, 60), 200, wantEvent},
		{"Base64ZlibCRLFLines", ruby, bytes.ReplaceAll(wrapLines(b64zlib, 76), []byte("\n"), []byte("\r\n")), 200, wantEvent},
		{"Base64ZlibGzipped", withHeader(node, "Content-Encoding", "gzip"), gzipped(t, b64zlib), 200, wantEvent},
		{"Base64ZlibDeflated", withHeader(node, "Content-Encoding", "deflate"), deflated(t, b64zlib), 200, wantEvent},
		{"Base64JSON", node, base64Of(ravenEvent), 200, wantEvent},
		{"Base64JSONLeadingSpace", node, base64Of(append([]byte("\n "), ravenEvent...)), 200, wantEvent},
		{"ZlibNoContentEncoding", node, zlibbed(t, ravenEvent), 200, wantEvent},
		{"ZlibBestNoContentEncoding", goAuth, zlibLevel(t, ravenEvent, zlib.BestCompression), 200, wantEvent},
		{"ZlibGzipped", withHeader(node, "Content-Encoding", "gzip"), gzipped(t, zlibbed(t, ravenEvent)), 200, wantEvent},
		{"JSONLeadingSpace", node, append([]byte(" \r\n\t"), ravenEvent...), 200, wantEvent},
		// What is wrong.
		{"Base64Corrupt", node, append(bytes.Clone(b64zlib[:40]), "*AAA"...), 400, `{"detail":"invalid base64-encoded zlib body: illegal base64 data"}`},
		{"Base64CorruptAfterZlib", node, append(bytes.Clone(b64zlib), "AAAA!"...), 400, `{"detail":"invalid base64-encoded zlib body: illegal base64 data"}`},
		{"Base64Truncated", node, b64zlib[:len(b64zlib)-1], 400, `{"detail":"invalid base64-encoded zlib body: unexpected EOF"}`},
		{"Base64AfterPadding", node, append(base64Of([]byte("{")), base64Of([]byte(`"message":"x"}`))...), 400, `{"detail":"invalid base64 body: illegal base64 data"}`},
		{"Base64PaddingThenLineBreak", node, append(base64Of(ravenEvent[:len(ravenEvent)-1]), "\r\n"...), 400, `{"detail":"invalid event: unexpected end of JSON input`},
		{"Base64JSONCorrupt", node, append(bytes.Clone(base64Of(ravenEvent)[:40]), "*AAA"...), 400, `{"detail":"invalid base64 body: illegal base64 data"}`},
		{"Base64PartialQuantum", node, append(bytes.Clone(b64zlib[:40]), "*!"...), 400, `{"detail":"invalid base64-encoded zlib body: unexpected EOF"}`},
		{"Base64ZlibTruncated", node, base64Of(truncatedZlib), 400, `{"detail":"invalid base64-encoded zlib body: unexpected EOF"}`},
		{"Base64ZlibBadChecksum", node, base64Of(badChecksum), 400, `{"detail":"invalid base64-encoded zlib body: zlib: invalid checksum"}`},
		{"Base64RawDeflate", node, base64Of(deflated(t, ravenEvent)), 400, `{"detail":"invalid base64 body: it decodes to neither JSON nor zlib-compressed JSON"}`},
		{"Base64Gzip", node, base64Of(gzipped(t, ravenEvent)), 400, `{"detail":"invalid base64 body: it decodes to neither JSON nor zlib-compressed JSON"}`},
		{"Base64JSONArray", node, base64Of([]byte(`[{"message":"x"}]`)), 400, `{"detail":"invalid base64 body: it decodes to neither JSON nor zlib-compressed JSON"}`},
		{"Base64OfNotJSON", node, []byte("aGVsbG8="), 400, `{"detail":"invalid base64 body: it decodes to neither JSON nor zlib-compressed JSON"}`},
		{"Base64OneCharacter", node, []byte("e"), 400, `{"detail":"invalid base64 body: unexpected EOF"}`},
		{"Base64JSONInvalid", node, base64Of([]byte(`{"message":`)), 400, `{"detail":"invalid event: unexpected end of JSON input`},
		{"Base64ZlibNotJSON", node, base64Zlib(t, []byte("not json")), 400, `{"detail":"invalid event: not a JSON object"}`},
		{"ZlibTruncated", node, truncatedZlib, 400, `{"detail":"invalid zlib body: unexpected EOF"}`},
		{"ZlibBadChecksum", node, badChecksum, 400, `{"detail":"invalid zlib body: zlib: invalid checksum"}`},
		{"ZlibPresetDictionary", node, []byte{0x78, 0xbb, 0xde, 0xad, 0xbe, 0xef}, 400, `{"detail":"invalid zlib body: zlib: invalid dictionary"}`},
		{"ZlibHeaderOnly", node, []byte{0x78, 0x9c}, 400, `{"detail":"invalid zlib body: unexpected EOF"}`},
		// A failure under the legacy decoders is named after its layer.
		{"GzipTruncatedAroundBase64Zlib", withHeader(node, "Content-Encoding", "gzip"), gzipped(t, b64zlib)[:300], 400, `{"detail":"invalid gzip body: unexpected EOF"}`},
		{"GzipCorruptAroundBase64Zlib", withHeader(node, "Content-Encoding", "gzip"), append(gzipped(t, b64zlib)[:10], bytes.Repeat([]byte{0xff}, 64)...), 400, `{"detail":"invalid gzip body: flate: corrupt input`},
		{"NoKey", http.Header{"Content-Type": {"application/octet-stream"}}, b64zlib, 401, `{"detail":"missing DSN key`},
		{"UnknownKey", withContentType(auth("ffffffffffffffffffffffffffffffff"), "application/octet-stream"), b64zlib, 403, `{"detail":"invalid DSN key for this project"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			th := newTestHandler(t)
			w := th.serve("POST", "/api/42/store/", tt.header, tt.body)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.resp) {
				t.Fatalf("got %d %s, want %d %s", w.Code, w.Body, tt.status, tt.resp)
			}
			if w.Code != 200 && w.Header().Get("X-Sentry-Error") == "" {
				t.Errorf("no X-Sentry-Error header")
			}
			th.wantNoneInFlight(t)
			saved := th.saver.saved()
			if tt.status != 200 {
				if len(saved) != 0 {
					t.Errorf("saved %d events", len(saved))
				}
				return
			}
			if len(saved) != 1 {
				t.Fatalf("saved %d events, want 1", len(saved))
			}
			e := saved[0]
			if e.ID != ravenEventID || e.ProjectID != 42 || e.Type != "TypeError" || e.Value != "x is undefined" ||
				e.Release != "v1.2.3" || e.Platform != "node" || !bytes.Contains(e.Data, []byte(`"pad":"raven raven`)) {
				t.Errorf("saved %+v", e)
			}
		})
	}
}

// TestHandler_LegacyStoreQueryKey sends a legacy body authenticated by
// the sentry_key query parameter.
func TestHandler_LegacyStoreQueryKey(t *testing.T) {
	t.Parallel()
	th := newTestHandler(t)
	w := th.serve("POST", "/api/42/store/?sentry_version=7&sentry_key="+testKey, http.Header{"Content-Type": {"application/octet-stream"}}, base64Zlib(t, ravenEvent))
	if w.Code != 200 || w.Body.String() != `{"id":"`+ravenEventID+`"}` {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	th.wantNoneInFlight(t)
}

// oldSDKRequest is a request an old SDK sent, read from testdata/legacy.
type oldSDKRequest struct {
	target string
	header http.Header
	body   []byte
}

// mustReadOldSDKRequest reads a request captured from an old SDK.
func mustReadOldSDKRequest(tb testing.TB, name string) oldSDKRequest {
	tb.Helper()
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(mustReadFile(tb, filepath.Join("legacy", name)))))
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return oldSDKRequest{target: r.RequestURI, header: r.Header, body: body}
}

// TestHandler_OldSDKRequests replays requests of real old SDKs, as they
// sent them, and checks the events saved.
func TestHandler_OldSDKRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file     string
		encoded  bool // the body is the base64 of zlib data
		id       string
		title    string
		platform string
	}{
		{"raven-node-2.6.4.http", true, "0674f1b4af69444a9d9beb06803a3985", "TypeError: Cannot read properties of undefined (reading 'boom')", "node"},
		{"raven-ruby-3.1.2.http", true, "03eff317725949af8a0c6edff90245b0", "ArgumentError: invalid order id", "ruby"},
		{"raven-go-0.2.0-small.http", false, "4c651dfc1dd846638013237136eda45b", "small message from raven-go", "go"},
		{"raven-go-0.2.0-large.http", true, "715554b72a924029a539f818b6586312", "*errors.errorString: connection refused", "go"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			req := mustReadOldSDKRequest(t, tt.file)
			// Base64 of a zlib header (0x78) starts with "e", JSON with "{".
			if got := req.body[0] == 'e'; got != tt.encoded {
				t.Fatalf("body starts %q: base64 of zlib data is %v, want %v", req.body[:min(len(req.body), 8)], got, tt.encoded)
			}
			th := newTestHandler(t)
			w := th.serve("POST", req.target, req.header, req.body)
			if w.Code != 200 || w.Body.String() != `{"id":"`+tt.id+`"}` {
				t.Fatalf("got %d %s", w.Code, w.Body)
			}
			saved := th.saver.saved()
			if len(saved) != 1 {
				t.Fatalf("saved %d events", len(saved))
			}
			e := saved[0]
			if e.ID != tt.id || e.Title != tt.title || e.Platform != tt.platform || e.Release != "v1.2.3" || e.Environment != "production" {
				t.Errorf("saved id %s, title %q, platform %q, release %q, environment %q", e.ID, e.Title, e.Platform, e.Release, e.Environment)
			}
			th.wantNoneInFlight(t)
		})
	}
}

// TestHandler_LegacyStoreBombs sends legacy bodies that decode past the
// event limit, or that carry no valid key: each is refused having taken
// about what one event of the largest size takes.
func TestHandler_LegacyStoreBombs(t *testing.T) {
	// Not parallel: it measures allocation.
	// 32 MB of one letter in JSON, zlib-compressed to about 32 KB.
	bomb := zlibbed(t, append([]byte(`{"message":"`), bytes.Repeat([]byte{'a'}, 32<<20)...))
	b64bomb := base64Of(bomb)
	octet := http.Header{"Content-Type": {"application/octet-stream"}}
	key := withContentType(ravenAuth("5", "raven-node/2.6.4", ""), "application/octet-stream")
	bigJSON := []byte(`{"message":"` + strings.Repeat("x", DefaultMaxEventSize) + `"}`)
	// What a refused body may take: the buffers it grew through on its
	// way to one byte past the event limit, and its decoders, with room
	// for the request's own small allocations.
	held := bodyCost(DefaultMaxEventSize) + maxStoreDecoders + 64<<10
	tests := []struct {
		name    string
		header  http.Header
		body    []byte
		status  int
		resp    string
		maxRead int64 // bytes the handler may read from the body
		maxHeld int64 // bytes it may allocate
	}{
		{"Base64Zlib", key, b64bomb, 413, `{"detail":"event exceeds the limit of 1 MB"}`, 64 << 10, held},
		{"Zlib", key, bomb, 413, `{"detail":"event exceeds the limit of 1 MB"}`, 64 << 10, held},
		{"GzipBase64Zlib", withHeader(key, "Content-Encoding", "gzip"), gzipped(t, b64bomb), 413, `{"detail":"event exceeds the limit of 1 MB"}`, 64 << 10, held},
		{"Base64JSON", key, base64Of(bigJSON), 413, `{"detail":"event exceeds the limit of 1 MB"}`, 1400 << 10, held},
		{"NoKey", octet, b64bomb, 401, `{"detail":"missing DSN key`, 0, 256 << 10},
		{"UnknownKey", withContentType(auth("ffffffffffffffffffffffffffffffff"), "application/octet-stream"), b64bomb, 403, `{"detail":"invalid DSN key for this project"}`, 0, 256 << 10},
		{"InactiveKey", withContentType(auth(inactiveKey), "application/octet-stream"), bomb, 403, `{"detail":"invalid DSN key for this project"}`, 0, 256 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := newTestHandler(t)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			w, read := th.serveCounting("/api/42/store/", tt.header, bytes.NewReader(tt.body), int64(len(tt.body)))
			runtime.ReadMemStats(&after)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.resp) {
				t.Errorf("got %d %s, want %d %s", w.Code, w.Body, tt.status, tt.resp)
			}
			if read > tt.maxRead {
				t.Errorf("read %d bytes of the body, want at most %d", read, tt.maxRead)
			}
			if alloc := int64(after.TotalAlloc - before.TotalAlloc); alloc > tt.maxHeld {
				t.Errorf("allocated %d KB, want at most %d KB", alloc>>10, tt.maxHeld>>10)
			}
			if n := len(th.saver.saved()); n != 0 {
				t.Errorf("saved %d events", n)
			}
			th.wantNoneInFlight(t)
		})
	}
}

// TestBody_OpenLegacy decodes store bodies in each legacy encoding and
// checks what their decoders reserved from the budget.
func TestBody_OpenLegacy(t *testing.T) {
	t.Parallel()
	event := ravenEvent
	tests := []struct {
		name     string
		encoding string
		body     []byte
		decoders int64 // what the decoders reserve
	}{
		{"JSON", "", event, 0},
		{"Zlib", "", zlibbed(t, event), decoderSize},
		{"Base64JSON", "", base64Of(event), base64DecoderSize},
		{"Base64Zlib", "", base64Zlib(t, event), base64DecoderSize + decoderSize},
		{"GzipJSON", "gzip", gzipped(t, event), decoderSize},
		{"GzipBase64Zlib", "gzip", gzipped(t, base64Zlib(t, event)), maxStoreDecoders},
		{"DeflateZlib", "deflate", zlibbed(t, event), decoderSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inFlight := &budget{limit: 4 << 20}
			b := &body{budget: inFlight}
			r := httptest.NewRequest("POST", "/api/42/store/", bytes.NewReader(tt.body))
			r.Header.Set("Content-Encoding", tt.encoding)
			if err := b.open(httptest.NewRecorder(), r, DefaultLimits(), DefaultMaxEventSize, "event"); err != nil {
				t.Fatal(err)
			}
			if err := b.openLegacy(); err != nil {
				t.Fatal(err)
			}
			got, err := b.readAll()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, event) {
				t.Errorf("decoded %q, want %q", got, event)
			}
			// Every buffer the body grew through is counted, and the
			// decoders.
			var buffers int64
			for c := 4096; c <= cap(b.buf); c *= 2 {
				buffers += int64(c)
			}
			if tt.encoding == "" && tt.decoders == 0 {
				buffers = int64(len(event) + 1) // allocated at once from the Content-Length
			}
			if want := buffers + tt.decoders; b.reserved != want || inFlight.used.Load() != want {
				t.Errorf("reserved %d (budget %d), want %d", b.reserved, inFlight.used.Load(), want)
			}
			b.close()
			if inFlight.release(b.reserved); inFlight.used.Load() != 0 {
				t.Errorf("budget %d after release", inFlight.used.Load())
			}
		})
	}
}

// TestHandler_LegacyInFlightBudget holds a large legacy store body in
// SaveFunc: other large ones get 429 at once, a small one still fits with
// its decoders, and all pass once it is done.
func TestHandler_LegacyInFlightBudget(t *testing.T) {
	t.Parallel()
	th := newTestHandler(t)
	const limit = 220 << 10
	// Room for one large legacy body (about 200 KB of JSON, read into
	// buffers of 4, 8, ... 128 KB, then 220 KB, and its decoders) and
	// 128 KB more: a small body with its decoders (up to 104 KB) and the
	// buffer it may take from the pool (at most 64 KB: a large body
	// refused grows no further).
	th.Limits = Limits{MaxBodySize: limit, MaxEventSize: limit, MaxInFlight: bodyCost(limit) + maxStoreDecoders + 128<<10}
	large := func(id string) []byte {
		return []byte(`{"event_id":"` + id + `","message":"` + strings.Repeat("x", 200<<10) + `"}`)
	}
	const heldID = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	entered, release := make(chan struct{}), make(chan struct{})
	th.SaveFunc = func(ctx context.Context, events []*herald.Event) error {
		if events[0].ID == heldID {
			close(entered)
			<-release
		}
		return th.saver.save(ctx, events)
	}
	header := withContentType(ravenAuth("5", "raven-node/2.6.4", ""), "application/octet-stream")
	held := make(chan *httptest.ResponseRecorder)
	go func() {
		w, _ := th.serveCounting("/api/42/store/", header, bytes.NewReader(base64Zlib(t, large(heldID))), -1)
		held <- w
	}()
	<-entered

	tests := []struct {
		name   string
		header http.Header
		body   []byte
		status int // while the large body is held
	}{
		{"SmallBase64Zlib", header, base64Zlib(t, ravenEvent), 200},
		{"SmallGzipBase64Zlib", withHeader(header, "Content-Encoding", "gzip"), gzipped(t, base64Zlib(t, ravenEvent)), 200},
		{"LargeBase64Zlib", header, base64Zlib(t, large("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")), 429},
		{"LargeZlibGzipped", withHeader(header, "Content-Encoding", "gzip"), gzipped(t, zlibbed(t, large("cccccccccccccccccccccccccccccccc"))), 429},
		{"LargeJSON", header, large("dddddddddddddddddddddddddddddddd"), 429},
		{"SmallGzipBase64ZlibAfterLarge", withHeader(header, "Content-Encoding", "gzip"), gzipped(t, base64Zlib(t, ravenEvent)), 200},
	}
	for _, tt := range tests {
		t.Run("Held/"+tt.name, func(t *testing.T) {
			w, _ := th.serveCounting("/api/42/store/", tt.header, bytes.NewReader(tt.body), -1)
			if w.Code != tt.status {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body, tt.status)
			}
			if tt.status == 429 && w.Header().Get("Retry-After") != "1" {
				t.Errorf("Retry-After = %q, want 1", w.Header().Get("Retry-After"))
			}
		})
	}
	close(release)
	if w := <-held; w.Code != 200 {
		t.Fatalf("held request: got %d %s", w.Code, w.Body)
	}
	th.wantNoneInFlight(t)
	for _, tt := range tests {
		t.Run("After/"+tt.name, func(t *testing.T) {
			if w, _ := th.serveCounting("/api/42/store/", tt.header, bytes.NewReader(tt.body), -1); w.Code != 200 {
				t.Fatalf("got %d %s", w.Code, w.Body)
			}
			th.wantNoneInFlight(t)
		})
	}
}

// TestHandler_StoreEnvelopeContentType sends envelopes to the store
// endpoint with Sentry's envelope Content-Type: they are read as envelopes,
// as Relay reads them, key in the header first.
func TestHandler_StoreEnvelopeContentType(t *testing.T) {
	t.Parallel()
	goEnv := mustReadFile(t, "sentry-go.envelope")
	envType := http.Header{"Content-Type": {"application/x-sentry-envelope"}}
	item := "{\"type\":\"attachment\",\"length\":1073741824}\n"
	tests := []struct {
		name    string
		header  http.Header
		body    []byte
		status  int
		resp    string
		saved   int
		maxRead int64
	}{
		{"XSentryAuth", withContentType(auth(testKey), "application/x-sentry-envelope"), goEnv, 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1, 1 << 20},
		{"DSNInHeader", envType, goEnv, 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1, 1 << 20},
		{"MediaTypeParameters", http.Header{"Content-Type": {"Application/X-Sentry-Envelope; charset=utf-8"}}, goEnv, 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1, 1 << 20},
		{"GzipBombNoDSN", withHeader(envType, "Content-Encoding", "gzip"), gzipBomb(t, "{}\n"+item, 256), 401, `{"detail":"missing DSN key`, 0, 16 << 10},
		{"GzipBombUnknownKey", withHeader(envType, "Content-Encoding", "gzip"), gzipBomb(t, `{"dsn":"https://ffffffffffffffffffffffffffffffff@h/42"}`+"\n"+item, 256), 403, `{"detail":"invalid DSN key for this project"}`, 0, 16 << 10},
		{"OtherTypeIsAnEvent", withContentType(auth(testKey), "application/json"), goEnv, 400, `{"detail":"invalid event: `, 0, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			th := newTestHandler(t)
			w, read := th.serveCounting("/api/42/store/", tt.header, bytes.NewReader(tt.body), int64(len(tt.body)))
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.resp) {
				t.Fatalf("got %d %s, want %d %s", w.Code, w.Body, tt.status, tt.resp)
			}
			if n := len(th.saver.saved()); n != tt.saved {
				t.Errorf("saved %d events, want %d", n, tt.saved)
			}
			if read > tt.maxRead {
				t.Errorf("read %d bytes of the body, want at most %d", read, tt.maxRead)
			}
			th.wantNoneInFlight(t)
		})
	}
}

// sentryCLICheckIn is the envelope `sentry-cli monitors run` (3.8.0) posts
// before it runs the command, byte for byte.
const sentryCLICheckIn = "{}\n{\"type\":\"check_in\",\"length\":124}\n" +
	`{"check_in_id":"224c89e6bac84213a1efb3d2f702d2fc","monitor_slug":"my-job","status":"in_progress","environment":"production"}` + "\n"

// sentryCLIAuth is sentry-cli's X-Sentry-Auth header.
var sentryCLIAuth = http.Header{
	"X-Sentry-Auth": {"Sentry sentry_key=" + testKey + ", sentry_version=7, sentry_timestamp=1796536864.640367, sentry_client=sentry-cli/x86_64"},
	"User-Agent":    {"sentry-cli/3.8.0"},
}

// dropRecorder records DroppedFunc's calls.
type dropRecorder struct {
	mu    sync.Mutex
	calls []string // "type=n"
}

func (d *dropRecorder) dropped(itemType string, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, itemType+"="+strconv.Itoa(n))
}

func (d *dropRecorder) got() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.calls...)
}

// TestHandler_DroppedItems sends envelopes whose items Herald does not
// process, cron check-ins first: they are answered 200, as Relay answers
// them, and counted and logged as dropped; nothing is counted for an
// envelope that is refused.
func TestHandler_DroppedItems(t *testing.T) {
	t.Parallel()
	checkInDone := "{}\n{\"type\":\"check_in\",\"length\":141}\n" +
		`{"check_in_id":"224c89e6bac84213a1efb3d2f702d2fc","monitor_slug":"my-job","status":"error","environment":"production","duration":0.000922891}` + "\n"
	withConfig := "{}\n{\"type\":\"check_in\"}\n" +
		`{"check_in_id":"55288f296d4741dc8728ba8ed4dda097","monitor_slug":"my-job","status":"in_progress","environment":"production","monitor_config":{"schedule":{"type":"crontab","value":"*/5 * * * *"},"checkin_margin":5,"max_runtime":10,"timezone":"Europe/Vienna"}}` + "\n"
	mixed := "{\"event_id\":\"9fac2ceed9344f2bbfdd1fdacb0ed9b1\"}\n{\"type\":\"event\"}\n{\"message\":\"hi\"}\n" +
		"{\"type\":\"attachment\",\"length\":3,\"filename\":\"a.txt\"}\nabc\n{\"type\":\"attachment\",\"length\":2}\nxy\n" +
		"{\"type\":\"client_report\"}\n{\"discarded_events\":[]}\n{\"type\":\"x-vendor-thing\"}\n{}\n"
	tests := []struct {
		name    string
		header  http.Header
		body    string
		status  int
		resp    string
		saved   int
		dropped []string
	}{
		{"SentryCLICheckIn", sentryCLIAuth, sentryCLICheckIn, 200, `{}`, 0, []string{"check_in=1"}},
		{"SentryCLICheckInDone", sentryCLIAuth, checkInDone, 200, `{}`, 0, []string{"check_in=1"}},
		{"CheckInWithMonitorConfig", sentryCLIAuth, withConfig, 200, `{}`, 0, []string{"check_in=1"}},
		{"CheckInDSNInHeader", nil, `{"dsn":"https://` + testKey + `@herald.example.com/42"}` + sentryCLICheckIn[2:], 200, `{}`, 0, []string{"check_in=1"}},
		{"EventWithOthers", auth(testKey), mixed, 200, `{"id":"9fac2ceed9344f2bbfdd1fdacb0ed9b1"}`, 1, []string{"attachment=2", "client_report=1", "other=1"}},
		{"RefusedEnvelope", auth(testKey), sentryCLICheckIn + "{\"type\":\"event\"}\n{\"message\":\n", 400, `invalid event`, 0, nil},
		{"UnknownKey", auth("ffffffffffffffffffffffffffffffff"), sentryCLICheckIn, 403, `invalid DSN key`, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			th := newTestHandler(t)
			var rec dropRecorder
			th.DroppedFunc = rec.dropped
			w := th.serve("POST", "/api/42/envelope/", tt.header, []byte(tt.body))
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.resp) {
				t.Fatalf("got %d %s, want %d %s", w.Code, w.Body, tt.status, tt.resp)
			}
			if n := len(th.saver.saved()); n != tt.saved {
				t.Errorf("saved %d events, want %d", n, tt.saved)
			}
			if got := rec.got(); strings.Join(got, ",") != strings.Join(tt.dropped, ",") {
				t.Errorf("dropped %v, want %v", got, tt.dropped)
			}
			th.wantNoneInFlight(t)
		})
	}
}

// TestHandler_DroppedItemsLog checks that the first drop of each item type
// is logged at info level and later ones at debug level.
func TestHandler_DroppedItemsLog(t *testing.T) {
	t.Parallel()
	th := newTestHandler(t)
	var logs syncBuffer
	th.Logger = newDebugLogger(&logs)
	for range 3 {
		if w := th.serve("POST", "/api/42/envelope/", sentryCLIAuth, []byte(sentryCLICheckIn)); w.Code != 200 {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
	}
	if w := th.serve("POST", "/api/42/envelope/", auth(testKey), []byte("{}\n{\"type\":\"transaction\"}\n{}\n")); w.Code != 200 {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	var levels []string
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(line, "envelope items dropped") || !strings.Contains(line, "project_id=42") {
			t.Fatalf("log line %q", line)
		}
		level, _, _ := strings.Cut(line[strings.Index(line, "level=")+len("level="):], " ")
		itemType, _, _ := strings.Cut(line[strings.Index(line, "item_type=")+len("item_type="):], " ")
		levels = append(levels, level+" "+itemType)
	}
	want := []string{"INFO check_in", "DEBUG check_in", "DEBUG check_in", "INFO transaction"}
	if strings.Join(levels, ",") != strings.Join(want, ",") {
		t.Errorf("logged %v, want %v", levels, want)
	}
}

// newDebugLogger returns a logger writing text to w, debug level included.
func newDebugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func TestItemTypeLabel(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"check_in", "check_in"},
		{"transaction", "transaction"},
		{"event", "event"},
		{"client_report", "client_report"},
		{"Check_In", "other"},
		{"x-vendor-thing", "other"},
		{"", "other"},
	}
	for _, tt := range tests {
		if got := ItemTypeLabel(tt.in); got != tt.want {
			t.Errorf("ItemTypeLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// decodeStoreRef decodes a store body whole, by the rules the handler
// applies as it streams (Relay's, and zlib data without a
// Content-Encoding): the reference FuzzHandler checks the handler against.
// It gives at most limit+1 bytes.
func decodeStoreRef(b []byte, limit int64) ([]byte, error) {
	inflate := func(z []byte) ([]byte, error) {
		zr, err := zlib.NewReader(bytes.NewReader(z))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(io.LimitReader(zr, limit+1))
	}
	switch {
	case len(b) >= 2 && b[0]&0x0f == 8 && (int(b[0])<<8|int(b[1]))%31 == 0:
		return inflate(b)
	case len(b) > 0 && strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", b[0]) >= 0:
		raw, err := base64.StdEncoding.DecodeString(string(b))
		if err != nil {
			return nil, err
		}
		if len(raw) >= 2 && raw[0]&0x0f == 8 && (int(raw[0])<<8|int(raw[1]))%31 == 0 {
			return inflate(raw)
		}
		if len(raw) > 0 && strings.IndexByte("{ \t\r\n", raw[0]) >= 0 {
			return raw, nil
		}
		return nil, errors.New("neither JSON nor zlib")
	}
	return b, nil
}

// FuzzDecodeStore decodes arbitrary store bodies, as sent and gzipped, the
// way the handler does (streaming, within the event limit) and checks that
// it agrees with decodeStoreRef, which decodes them whole: the same JSON
// when that fits the limit, ETOOLARGE when it does not, and EINVALID
// exactly when the reference refuses the body. The budget is back to zero
// after each.
func FuzzDecodeStore(f *testing.F) {
	for _, name := range []string{"raven-node-2.6.4.http", "raven-ruby-3.1.2.http", "raven-go-0.2.0-small.http", "raven-go-0.2.0-large.http"} {
		f.Add(mustReadOldSDKRequest(f, name).body, false)
	}
	f.Add(base64Zlib(f, ravenEvent), true)
	f.Add(zlibbed(f, ravenEvent), false)
	f.Add(base64Of(ravenEvent), false)
	f.Add(wrapLines(base64Zlib(f, ravenEvent), 76), false)
	f.Add(append(base64Of([]byte("{")), base64Of([]byte(`"a":1}`))...), false)
	f.Add([]byte("AA==\r\n"), false)
	f.Add([]byte{0x78, 0xbb, 0xde, 0xad, 0xbe, 0xef}, false)
	f.Add(append([]byte("eJ"), make([]byte, 64)...), true)
	f.Add([]byte(" {}"), false)
	const limit = 4 << 10
	lim := Limits{MaxRequestSize: 64 << 10, MaxBodySize: limit, MaxEventSize: limit, MaxInFlight: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte, gzip bool) {
		want, refErr := decodeStoreRef(data, limit)
		wire, encoding := data, ""
		if gzip {
			wire, encoding = gzipped(t, data), "gzip"
		}
		inFlight := &budget{limit: lim.MaxInFlight}
		b := &body{budget: inFlight}
		r := httptest.NewRequest("POST", "/api/42/store/", bytes.NewReader(wire))
		r.Header.Set("Content-Encoding", encoding)
		got, err := func() ([]byte, error) {
			if err := b.open(httptest.NewRecorder(), r, lim, limit, "event"); err != nil {
				return nil, err
			}
			if err := b.openLegacy(); err != nil {
				return nil, err
			}
			return b.readAll()
		}()
		code := herald.ErrorCode(err)
		switch {
		case refErr != nil:
			if code != herald.EINVALID && code != herald.ETOOLARGE {
				t.Fatalf("reference refused it (%v); decoding gave %q, %v", refErr, got, err)
			}
		case len(want) > limit:
			if code != herald.ETOOLARGE {
				t.Fatalf("decodes past the limit; got %d bytes, %v", len(got), err)
			}
		case err != nil || !bytes.Equal(got, want):
			t.Fatalf("decoded %q, %v; want %q", got, err, want)
		}
		b.close()
		if inFlight.release(b.reserved); inFlight.used.Load() != 0 {
			t.Fatalf("budget %d after release", inFlight.used.Load())
		}
	})
}
