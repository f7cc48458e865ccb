package ingest

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/herald-dev/herald"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// spaceReader yields n spaces.
type spaceReader struct{ n int64 }

func (s *spaceReader) Read(p []byte) (int, error) {
	if s.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.n)]
	for i := range p {
		p[i] = ' '
	}
	s.n -= int64(len(p))
	return len(p), nil
}

// wantNoneInFlight checks that the requests served released all they had
// reserved of the in-flight budget.
func (th *testHandler) wantNoneInFlight(tb testing.TB) {
	tb.Helper()
	if n := th.inFlight.used.Load(); n != 0 {
		tb.Errorf("%d bytes of the in-flight budget still reserved", n)
	}
}

// serveCounting runs one request through the handler and returns the
// response and the number of bytes the handler read from the body.
func (th *testHandler) serveCounting(target string, header http.Header, body io.Reader, contentLength int64) (*httptest.ResponseRecorder, int64) {
	cr := &countingReader{r: body}
	r := httptest.NewRequest("POST", target, cr)
	r.ContentLength = contentLength
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	th.ServeHTTP(w, r)
	return w, cr.n.Load()
}

// gzipBomb returns a gzip body whose first member decodes to head and
// whose other members decode to n MB of zeros, about 1 KB each.
func gzipBomb(tb testing.TB, head string, n int) []byte {
	tb.Helper()
	zeros := gzipped(tb, make([]byte, 1<<20))
	return append(gzipped(tb, []byte(head)), bytes.Repeat(zeros, n)...)
}

// emptyBlocks returns a raw deflate stream of n empty stored blocks: bytes on
// the wire that decode to nothing.
func emptyBlocks(n int) []byte {
	return bytes.Repeat([]byte{0x00, 0x00, 0x00, 0xff, 0xff}, n)
}

// TestHandler_AnonymousEnvelopeHeaderFirst sends envelopes without a key
// but, maybe, in their header, followed by much more: they are refused
// having read the header only.
func TestHandler_AnonymousEnvelopeHeaderFirst(t *testing.T) {
	t.Parallel()
	const item = "{\"type\":\"attachment\",\"length\":1073741824}\n"
	gzipEnc := http.Header{"Content-Encoding": {"gzip"}}
	deflateEnc := http.Header{"Content-Encoding": {"deflate"}}
	tests := []struct {
		name    string
		header  http.Header
		body    []byte
		status  int
		detail  string
		maxRead int64 // bytes the handler may read from the body
	}{
		{"GzipBombNoDSN", gzipEnc, gzipBomb(t, `{"event_id":"2b76c81b0555406ba3d687af12b43305"}`+"\n"+item, 2048),
			401, "missing DSN key", 16 << 10},
		{"GzipBombDSNWithoutKey", gzipEnc, gzipBomb(t, `{"dsn":"https://herald.example.com/42"}`+"\n"+item, 2048),
			401, "missing DSN key", 16 << 10},
		{"GzipBombUnknownKey", gzipEnc, gzipBomb(t, `{"dsn":"https://ffffffffffffffffffffffffffffffff@herald.example.com/42"}`+"\n"+item, 2048),
			403, "invalid DSN key for this project", 16 << 10},
		{"GzipBombInactiveKey", gzipEnc, gzipBomb(t, `{"dsn":"https://`+inactiveKey+`@herald.example.com/42"}`+"\r\n"+item, 2048),
			403, "invalid DSN key for this project", 16 << 10},
		{"GzipBombKeyOfOtherProject", gzipEnc, gzipBomb(t, `{"dsn":"https://`+otherKey+`@herald.example.com/7"}`+"\n"+item, 2048),
			403, "invalid DSN key for this project", 16 << 10},
		{"DeflateNoDSN", deflateEnc, deflated(t, append([]byte("{}\n"+item), make([]byte, 4<<20)...)),
			401, "missing DSN key", 16 << 10},
		{"IdentityNoDSN", nil, append([]byte("{}\n"+item), bytes.Repeat([]byte{'a'}, 4<<20)...),
			401, "missing DSN key", 16 << 10},
		{"IdentityUnknownKey", nil, append([]byte(`{"dsn":"https://ffffffffffffffffffffffffffffffff@h/42"}`+"\n"+item), bytes.Repeat([]byte{'a'}, 4<<20)...),
			403, "invalid DSN key for this project", 16 << 10},
		{"IdentityHeaderTooLong", nil, append([]byte(`{"dsn":"https://`+testKey+`@h/42","x":"`), bytes.Repeat([]byte{'a'}, 4<<20)...),
			413, "envelope header exceeds the limit of 64 KB", 64<<10 + 2},
		{"GzipHeaderTooLong", gzipEnc, gzipped(t, append([]byte(`{"dsn":"https://`+testKey+`@h/42","x":"`), make([]byte, 1<<20)...)),
			413, "envelope header exceeds the limit of 64 KB", 16 << 10},
		{"DeflateEmptyBlocks", deflateEnc, emptyBlocks(1 << 20),
			413, "envelope header exceeds the limit of 64 KB", 256 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			th := newTestHandler(t)
			w, read := th.serveCounting("/api/42/envelope/", tt.header, bytes.NewReader(tt.body), int64(len(tt.body)))
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.detail) || w.Header().Get("X-Sentry-Error") == "" {
				t.Errorf("got %d %s, want %d %s", w.Code, w.Body, tt.status, tt.detail)
			}
			if read > tt.maxRead {
				t.Errorf("read %d bytes of the body, want at most %d", read, tt.maxRead)
			}
			if n := len(th.saver.saved()); n != 0 {
				t.Errorf("saved %d events", n)
			}
			th.wantNoneInFlight(t)
		})
	}
}

// TestHandler_AnonymousContentLength sends bodies without a valid key that
// announce the largest Content-Length: nothing of that size is allocated.
func TestHandler_AnonymousContentLength(t *testing.T) {
	// Not parallel: it measures allocation.
	const announced = 20 << 20
	tests := []struct {
		name   string
		target string
		head   string
		status int
	}{
		{"EnvelopeNoKey", "/api/42/envelope/", "{}\n", 401},
		{"EnvelopeUnknownKey", "/api/42/envelope/", `{"dsn":"https://ffffffffffffffffffffffffffffffff@h/42"}` + "\n", 403},
		{"StoreNoKey", "/api/42/store/", "{", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := newTestHandler(t)
			body := io.MultiReader(strings.NewReader(tt.head), &spaceReader{n: announced - int64(len(tt.head))})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			w, read := th.serveCounting(tt.target, nil, body, announced)
			runtime.ReadMemStats(&after)
			if w.Code != tt.status {
				t.Errorf("got %d %s, want %d", w.Code, w.Body, tt.status)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("allocated %d KB for an unauthenticated claim of %d MB", alloc>>10, announced>>20)
			}
			if read > 16<<10 {
				t.Errorf("read %d bytes of the body", read)
			}
			th.wantNoneInFlight(t)
		})
	}
}

// TestHandler_RateLimitDSNInHeader checks that a key from the envelope
// header is rate limited before the rest of the body is read.
func TestHandler_RateLimitDSNInHeader(t *testing.T) {
	t.Parallel()
	th := newTestHandler(t)
	th.RateLimit = 1
	goEnv := mustReadFile(t, "sentry-go.envelope")
	if w := th.serve("POST", "/api/42/envelope/", nil, goEnv); w.Code != 200 {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	// The key's allowance is spent: the next envelope is refused having
	// read its header only.
	bomb := gzipBomb(t, `{"dsn":"https://`+testKey+`@herald.example.com/42"}`+"\n", 2048)
	w, read := th.serveCounting("/api/42/envelope/", http.Header{"Content-Encoding": {"gzip"}}, bytes.NewReader(bomb), int64(len(bomb)))
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" || w.Header().Get("X-Sentry-Rate-Limits") != "1::key" {
		t.Errorf("got %d %v %s", w.Code, w.Header(), w.Body)
	}
	if read > 16<<10 {
		t.Errorf("read %d bytes of the body", read)
	}
	th.wantNoneInFlight(t)
}

// TestHandler_InFlightBudget holds a large envelope in SaveFunc, so that its
// body holds most of a small budget: other large ones get 429 at once while
// small ones pass, and all pass once it is done.
func TestHandler_InFlightBudget(t *testing.T) {
	t.Parallel()
	th := newTestHandler(t)
	// Room for one large envelope of unknown length (about 200 KB, read
	// into buffers of 4, 8, ... 128 KB, then 220 KB) and a few small ones.
	const limit = 220 << 10
	th.Limits = Limits{MaxBodySize: limit, MaxEventSize: limit, MaxInFlight: bodyCost(limit) + decoderSize + 64<<10}
	large := func(header string) []byte {
		return []byte(header + "\n{\"type\":\"event\"}\n{\"message\":\"" + strings.Repeat("x", 200<<10) + "\"}\n")
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
	held := make(chan *httptest.ResponseRecorder)
	go func() {
		w, _ := th.serveCounting("/api/42/envelope/", auth(testKey), bytes.NewReader(large(`{"event_id":"`+heldID+`"}`)), -1)
		held <- w
	}()
	<-entered

	goEnv := mustReadFile(t, "sentry-go.envelope")
	gzipEnc := withHeader(auth(testKey), "Content-Encoding", "gzip")
	tests := []struct {
		name          string
		header        http.Header
		body          []byte
		contentLength int64 // -1: chunked
		status        int   // while the first large envelope is held
	}{
		{"Large", auth(testKey), large("{}"), -2, 429},
		{"LargeChunked", auth(testKey), large("{}"), -1, 429},
		{"LargeGzip", gzipEnc, gzipped(t, large("{}")), -2, 429},
		{"LargeDSNInHeader", nil, large(`{"dsn":"https://` + testKey + `@herald.example.com/42"}`), -2, 429},
		{"Small", auth(testKey), goEnv, -2, 200},
		{"SmallGzip", gzipEnc, gzipped(t, goEnv), -2, 200},
		{"SmallDSNInHeader", nil, goEnv, -2, 200},
	}
	serve := func(t *testing.T, header http.Header, body []byte, contentLength int64) *httptest.ResponseRecorder {
		t.Helper()
		if contentLength == -2 {
			contentLength = int64(len(body))
		}
		w, _ := th.serveCounting("/api/42/envelope/", header, bytes.NewReader(body), contentLength)
		return w
	}
	for _, tt := range tests {
		t.Run("Held/"+tt.name, func(t *testing.T) {
			w := serve(t, tt.header, tt.body, tt.contentLength)
			if w.Code != tt.status {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body, tt.status)
			}
			if tt.status == 429 {
				if got := w.Header().Get("Retry-After"); got != "1" {
					t.Errorf("Retry-After = %q, want 1", got)
				}
				if want := `{"detail":"server busy reading other requests' data: try again in a second"}`; w.Body.String() != want || w.Header().Get("X-Sentry-Error") == "" {
					t.Errorf("got %s, want %s", w.Body, want)
				}
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
			if w := serve(t, tt.header, tt.body, tt.contentLength); w.Code != 200 {
				t.Fatalf("got %d %s", w.Code, w.Body)
			}
			th.wantNoneInFlight(t)
		})
	}
}

// TestBody_ReadLine reads the first line of bodies, then the rest, and
// checks what was read from the wire and reserved from the budget.
func TestBody_ReadLine(t *testing.T) {
	t.Parallel()
	line := `{"dsn":"https://` + testKey + `@herald.example.com/42"}`
	longLine := `{"dsn":"https://` + testKey + `@herald.example.com/42","x":"` + strings.Repeat("x", 40<<10) + `"}`
	rest := "{\"type\":\"event\"}\n{}\n" + strings.Repeat(" ", 300<<10)
	tests := []struct {
		name     string
		encoding string
		body     []byte
		pooled   int   // capacity of the buffer the body starts with
		maxRead  int64 // bytes that may be read from the wire
		want     string
	}{
		{"Identity", "", []byte(line + "\n" + rest), 0, 4096, line},
		{"IdentityCRLF", "", []byte(line + "\r\n" + rest), 0, 4096, line},
		{"IdentityNoNewline", "", []byte(line), 0, 4096, line},
		{"IdentityLongLine", "", []byte(longLine + "\n" + rest), 0, 64 << 10, longLine},
		{"IdentityPooledBuffer", "", []byte(line + "\n" + rest), 1 << 20, MaxEnvelopeHeaderSize + 2, line},
		{"Gzip", "gzip", gzipped(t, []byte(line+"\n"+rest)), 0, 4096, line},
		{"GzipPooledBuffer", "gzip", gzipped(t, []byte(line+"\n"+rest)), 1 << 20, 4096, line},
		{"Deflate", "deflate", deflated(t, []byte(line+"\n"+rest)), 0, 4096, line},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inFlight := &budget{limit: 4 << 20}
			b := &body{budget: inFlight}
			if tt.pooled > 0 {
				b.buf = make([]byte, 0, tt.pooled)
				if err := b.reserve(int64(tt.pooled)); err != nil {
					t.Fatal(err)
				}
			}
			cr := &countingReader{r: bytes.NewReader(tt.body)}
			r := httptest.NewRequest("POST", "/api/42/envelope/", cr)
			r.Header.Set("Content-Encoding", tt.encoding)
			if err := b.open(httptest.NewRecorder(), r, DefaultLimits(), DefaultMaxBodySize, "envelope"); err != nil {
				t.Fatal(err)
			}
			got, err := b.readLine()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("line = %q, want %q", got, tt.want)
			}
			if n := cr.n.Load(); n > tt.maxRead {
				t.Errorf("read %d bytes from the wire, want at most %d", n, tt.maxRead)
			}
			// Every buffer the line grew through is counted.
			want := int64(tt.pooled)
			if tt.pooled == 0 {
				for c := 4096; c <= cap(b.buf); c *= 2 {
					want += int64(c)
				}
			}
			if tt.encoding != "" {
				want += decoderSize
			}
			if b.reserved != want || inFlight.used.Load() != want {
				t.Errorf("reserved %d (budget %d), want %d", b.reserved, inFlight.used.Load(), want)
			}
			all, err := b.readAll()
			if err != nil {
				t.Fatal(err)
			}
			if wantBody := readAllDecoded(t, tt.encoding, tt.body); !bytes.Equal(all, wantBody) {
				t.Errorf("readAll returned %d bytes, want %d", len(all), len(wantBody))
			}
			b.close()
			if inFlight.release(b.reserved); inFlight.used.Load() != 0 {
				t.Errorf("budget %d after release", inFlight.used.Load())
			}
		})
	}
}

// readAllDecoded decodes a test body.
func readAllDecoded(tb testing.TB, encoding string, body []byte) []byte {
	tb.Helper()
	var r io.Reader = bytes.NewReader(body)
	switch encoding {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			tb.Fatal(err)
		}
		r = zr
	case "deflate":
		r = flate.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkHandler measures a small envelope, the common case, through the
// whole handler.
func BenchmarkHandler(b *testing.B) {
	goEnv := mustReadFile(b, "sentry-go.envelope")
	tests := []struct {
		name   string
		header http.Header
		body   []byte
	}{
		{"Identity", auth(testKey), goEnv},
		{"Gzip", withHeader(auth(testKey), "Content-Encoding", "gzip"), gzipped(b, goEnv)},
		{"DSNInHeader", nil, goEnv},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			th := newTestHandler(b)
			th.SaveFunc = func(context.Context, []*herald.Event) error { return nil }
			b.SetBytes(int64(len(tt.body)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := httptest.NewRequest("POST", "/api/42/envelope/", bytes.NewReader(tt.body))
					r.Header = tt.header
					w := httptest.NewRecorder()
					th.ServeHTTP(w, r)
					if w.Code != 200 {
						b.Fatalf("got %d %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}

// Encodings of FuzzHandler's bodies.
const (
	fuzzIdentity   = iota // as is, with its Content-Length
	fuzzChunked           // as is, without a Content-Length
	fuzzGzip              // gzipped
	fuzzZlib              // zlib, sent as deflate
	fuzzDeflate           // raw deflate
	fuzzRawGzip           // as is, sent as gzip
	fuzzRawDeflate        // as is, sent as deflate
	fuzzBase64Zlib        // base64 of zlib, as raven-node sends store bodies
	fuzzBase64            // base64
	fuzzLegacyZlib        // zlib, without a Content-Encoding
	fuzzEncodings
)

// Where FuzzHandler's requests carry a key.
const (
	fuzzKeyNone    = iota // nowhere but, maybe, the envelope header
	fuzzKeyHeader         // testKey in X-Sentry-Auth
	fuzzKeyUnknown        // an unknown key in X-Sentry-Auth
	fuzzKeyQuery          // testKey in the sentry_key query parameter
	fuzzKeys
)

// fuzzLimits are small, so that fuzzed bodies reach them.
var fuzzLimits = Limits{MaxRequestSize: 48 << 10, MaxBodySize: 32 << 10, MaxEventSize: 16 << 10, MaxInFlight: 256 << 10}

// FuzzHandler sends arbitrary envelopes and store bodies through the
// Handler, in every encoding and with the key in every place, and checks
// that:
//   - the answer is never a server error (the fakes never fail);
//   - what is answered agrees with parsing the whole body at once: 401
//     without a key, 403 with a bad one, 200 and the same events when
//     ParseEnvelope (or, for a store body, decodeStoreRef and parseEvent)
//     and the key accept it;
//   - no more is read from the body than MaxRequestSize allows, and an
//     envelope refused for its key is read no further than its header
//     allows (maxHeaderWire);
//   - the in-flight budget is back to zero.
func FuzzHandler(f *testing.F) {
	for _, name := range fixtures {
		for enc := range uint8(fuzzEncodings) {
			f.Add(mustReadFile(f, name), enc, uint8(fuzzKeyNone), false)
		}
		f.Add(mustReadFile(f, name), uint8(fuzzIdentity), uint8(fuzzKeyHeader), false)
	}
	f.Add(mustReadFile(f, "store-go.json"), uint8(fuzzGzip), uint8(fuzzKeyHeader), true)
	f.Add([]byte(`{"dsn":"https://`+testKey+`@h/42"}`), uint8(fuzzChunked), uint8(fuzzKeyNone), false)
	f.Add([]byte(`{"dsn":"https://`+otherKey+`@h/7"}`+"\n{\"type\":\"event\"}\n{}\n"), uint8(fuzzZlib), uint8(fuzzKeyNone), false)
	// The store bodies of old SDKs, and what they decode to.
	for _, name := range []string{"raven-node-2.6.4.http", "raven-ruby-3.1.2.http", "raven-go-0.2.0-small.http", "raven-go-0.2.0-large.http"} {
		req := mustReadOldSDKRequest(f, name)
		f.Add(req.body, uint8(fuzzIdentity), uint8(fuzzKeyHeader), true)
		if json, err := decodeStoreRef(req.body, DefaultMaxEventSize); err == nil {
			for _, enc := range []uint8{fuzzBase64Zlib, fuzzBase64, fuzzLegacyZlib, fuzzGzip} {
				f.Add(json, enc, uint8(fuzzKeyHeader), true)
			}
		}
	}
	f.Add(append([]byte("eJ"), make([]byte, 64)...), uint8(fuzzIdentity), uint8(fuzzKeyQuery), true)
	f.Add(mustReadFile(f, "sentry-go.envelope"), uint8(fuzzBase64Zlib), uint8(fuzzKeyHeader), false)
	f.Add([]byte(sentryCLICheckIn), uint8(fuzzIdentity), uint8(fuzzKeyHeader), false)

	th := newTestHandler(f)
	th.Limits = fuzzLimits
	var saved []*herald.Event
	th.SaveFunc = func(_ context.Context, events []*herald.Event) error {
		saved = events
		return nil
	}
	f.Fuzz(func(t *testing.T, decoded []byte, encoding, keyAt uint8, store bool) {
		encoding %= fuzzEncodings
		keyAt %= fuzzKeys
		saved = nil
		body, header := decoded, http.Header{}
		switch encoding {
		case fuzzGzip:
			body, header["Content-Encoding"] = gzipped(t, decoded), []string{"gzip"}
		case fuzzZlib:
			body, header["Content-Encoding"] = zlibbed(t, decoded), []string{"deflate"}
		case fuzzDeflate:
			body, header["Content-Encoding"] = deflated(t, decoded), []string{"deflate"}
		case fuzzRawGzip:
			header["Content-Encoding"] = []string{"gzip"}
		case fuzzRawDeflate:
			header["Content-Encoding"] = []string{"deflate"}
		case fuzzBase64Zlib:
			body = base64Zlib(t, decoded)
		case fuzzBase64:
			body = base64Of(decoded)
		case fuzzLegacyZlib:
			body = zlibbed(t, decoded)
		}
		target, endpoint := "/api/42/envelope/", "envelope"
		if store {
			target, endpoint = "/api/42/store/", "store"
		}
		key := ""
		switch keyAt {
		case fuzzKeyHeader:
			key, header["X-Sentry-Auth"] = testKey, []string{"Sentry sentry_key=" + testKey}
		case fuzzKeyUnknown:
			key, header["X-Sentry-Auth"] = "ffffffffffffffffffffffffffffffff", []string{"Sentry sentry_key=ffffffffffffffffffffffffffffffff"}
		case fuzzKeyQuery:
			key, target = testKey, target+"?sentry_version=7&sentry_key="+testKey
		}
		contentLength := int64(len(body))
		if encoding == fuzzChunked {
			contentLength = -1
		}

		w, read := th.serveCounting(target, header, bytes.NewReader(body), contentLength)

		if w.Code >= 500 {
			t.Fatalf("%s: got %d %s", endpoint, w.Code, w.Body)
		}
		if w.Code != 200 && (w.Header().Get("X-Sentry-Error") == "" || !strings.HasPrefix(w.Body.String(), `{"detail":`)) {
			t.Fatalf("%s: refusal %d %s without Sentry's error body", endpoint, w.Code, w.Body)
		}
		th.wantNoneInFlight(t)
		if read > fuzzLimits.MaxRequestSize+1 {
			t.Fatalf("read %d bytes of a body limited to %d", read, fuzzLimits.MaxRequestSize)
		}
		if key == "" && (w.Code == 401 || w.Code == 403) && read > maxHeaderWire {
			t.Fatalf("read %d bytes of an envelope refused for its key", read)
		}
		if encoding == fuzzRawGzip || encoding == fuzzRawDeflate || int64(len(body)) > fuzzLimits.MaxRequestSize {
			return // what the body decodes to is not known here
		}
		// What the handler reads once the Content-Encoding is undone.
		plain := decoded
		if encoding >= fuzzBase64Zlib {
			plain = body
		}

		// What the whole body, parsed at once, says.
		var events []*herald.Event
		var parseErr error
		if store {
			if json, err := decodeStoreRef(plain, fuzzLimits.MaxEventSize); err != nil {
				parseErr = herald.Errorf(herald.EINVALID, "%v", err)
			} else if int64(len(json)) > fuzzLimits.MaxEventSize {
				parseErr = herald.Errorf(herald.ETOOLARGE, "too large")
			} else if e, err := parseEvent(json, "", received); err != nil {
				parseErr = err
			} else {
				events = []*herald.Event{e}
			}
		} else {
			env, err := ParseEnvelope(plain)
			if err == nil && key == "" {
				key = dsnKey(env.DSN)
			}
			if err == nil && int64(len(plain)) > fuzzLimits.MaxBodySize {
				err = herald.Errorf(herald.ETOOLARGE, "too large")
			}
			if err == nil {
				events, err = th.envelopeEvents(env, received)
			}
			parseErr = err
		}
		switch {
		case key == "" && (store || parseErr == nil):
			if w.Code != 401 {
				t.Fatalf("%s without a key: got %d %s", endpoint, w.Code, w.Body)
			}
		case key != "" && key != testKey && (store || keyAt != fuzzKeyNone || parseErr == nil):
			if w.Code != 403 {
				t.Fatalf("%s with key %q: got %d %s", endpoint, key, w.Code, w.Body)
			}
		case key == testKey && parseErr == nil:
			if w.Code != 200 || len(saved) != len(events) {
				t.Fatalf("%s accepted by the parser: got %d %s, saved %d events, want %d", endpoint, w.Code, w.Body, len(saved), len(events))
			}
			for i, e := range events {
				if saved[i].GroupHash != e.GroupHash || saved[i].Title != e.Title || !bytes.Equal(saved[i].Data, e.Data) && e.ID == saved[i].ID {
					t.Fatalf("event %d saved as %+v, want %+v", i, saved[i], e)
				}
			}
		case w.Code == 200:
			t.Fatalf("%s refused by the parser (%v) or the key %q: got 200 %s", endpoint, parseErr, key, w.Body)
		}
	})
}

func TestBudget(t *testing.T) {
	t.Parallel()
	b := &budget{limit: 100}
	steps := []struct {
		name    string
		reserve int64 // released when negative
		ok      bool
		used    int64
	}{
		{"Reserve", 60, true, 60},
		{"ReserveToLimit", 40, true, 100},
		{"PastLimit", 1, false, 100},
		{"Release", -60, true, 40},
		{"LargerThanLeft", 61, false, 40},
		{"AllThatIsLeft", 60, true, 100},
		{"ReleaseAll", -100, true, 0},
	}
	for _, st := range steps {
		ok := true
		if st.reserve < 0 {
			b.release(-st.reserve)
		} else {
			ok = b.reserve(st.reserve)
		}
		if ok != st.ok || b.used.Load() != st.used {
			t.Fatalf("%s: ok %v, used %d; want %v, %d", st.name, ok, b.used.Load(), st.ok, st.used)
		}
	}

	// Concurrent reservations never take more than the limit together.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 1000 {
				n := int64(1 + (i*7+j)%40)
				if !b.reserve(n) {
					continue
				}
				if used := b.used.Load(); used > b.limit {
					t.Errorf("used %d of %d", used, b.limit)
				}
				b.release(n)
			}
		})
	}
	wg.Wait()
	if used := b.used.Load(); used != 0 {
		t.Errorf("used %d after all released", used)
	}
}
