package ingest

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/herald-dev/herald"
)

// gzipReaders recycles gzip readers (each holds about 40 KB of state).
var gzipReaders sync.Pool

// decoderSize is what the in-flight budget counts for a compressed body's
// decompressor: the 32 KB window and Huffman tables of a flate reader and
// its 4 KB read buffer.
const decoderSize = 48 << 10

// maxHeaderWire bounds the bytes read from the wire to find the first line
// of an envelope whose key is not yet known: the header's limit compressed
// badly, plus what the decompressor reads ahead (its 32 KB window and 4 KB
// buffer), with room to spare. Bytes that decompress to nothing, such as
// empty deflate blocks, count too, so an anonymous client cannot make the
// handler read up to MaxRequestSize.
const maxHeaderWire = 4 * MaxEnvelopeHeaderSize

// maxPooledBuffer is the largest body buffer kept for reuse.
const maxPooledBuffer = 2 * DefaultMaxEventSize

// errBusy answers a request whose body does not fit in what is left of the
// in-flight budget. It is answered 429 with a short Retry-After at once:
// waiting for room would let clients pile up requests that hold
// connections.
var errBusy = herald.Errorf(herald.ERATELIMITED, "server busy reading other requests' data: try again in a second")

// budget bounds the bytes that the bodies of a Handler's requests in flight
// hold together (Limits.MaxInFlight).
type budget struct {
	limit int64
	used  atomic.Int64
}

// reserve takes n bytes from the budget, or reports false, without waiting,
// when fewer are left.
func (b *budget) reserve(n int64) bool {
	for {
		used := b.used.Load()
		if used+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// release gives back n bytes reserved earlier.
func (b *budget) release(n int64) { b.used.Add(-n) }

// body reads the body of one request: it undoes the Content-Encoding and
// bounds what is read, on the wire (lim.MaxRequestSize) and decoded
// (maxDecoded), refusing a body that is too large with ETOOLARGE after
// reading at most one byte past the limit, so a compression bomb costs no
// more memory than an honest body of the largest allowed size.
//
// What it holds is reserved from the handler's in-flight budget: the
// capacity of each buffer it allocates, reserved before each growth,
// decoderSize for a compressed body, and the decoders of a legacy store
// body (see openLegacy). A Handler pools bodies; a pooled buffer's capacity is
// reserved again when it is taken for a request and released when it is put
// back. Idle buffers in the pool are not counted: each holds at most
// maxPooledBuffer, and the garbage collector drops those left idle for two
// collections.
type body struct {
	buf      []byte
	budget   *budget
	reserved int64 // bytes taken from budget: every buffer allocated, plus decoderSize while decoding

	wire       stopReader    // the request body, on the wire
	br         *bufio.Reader // decompressors' read buffer, kept for reuse
	src        io.Reader     // the decoded body
	zr         *gzip.Reader  // the gzip reader to recycle
	dec        io.Closer     // the deflate reader to close
	eof        bool          // src has ended
	lim        Limits
	maxDecoded int64
	// decodedLimit is the maxDecoded asked for, which an identity body
	// caps at its wire limit until a legacy decoder is found.
	decodedLimit int64
	what         string // names the body in messages: "envelope", "event"
	encoding     string // the Content-Encoding, for messages
	length       int64  // the announced Content-Length, -1 when unknown

	// The legacy store body's decoding (see openLegacy).
	head  [4]byte       // the first bytes, looked at to tell the encoding
	pre   prefixReader  // head, then tap
	tap   errTap        // src as it was before the legacy decoders
	b64   base64Text    // pre, checked as base64 text
	lbr   *bufio.Reader // their read buffer, kept for reuse
	lz    io.ReadCloser // the zlib reader to recycle
	drain drainReader   // lz, then the rest of a base64 text
	layer string        // names the legacy encoding in messages, "" when none
}

// reserve takes n bytes from the budget for the body, or returns errBusy.
func (b *body) reserve(n int64) error {
	if !b.budget.reserve(n) {
		return errBusy
	}
	b.reserved += n
	return nil
}

// open prepares to read r's body, decoded, within lim and maxDecoded bytes
// decoded; what names the body in messages. Nothing past a compressed
// body's own header is read yet.
func (b *body) open(w http.ResponseWriter, r *http.Request, lim Limits, maxDecoded int64, what string) error {
	if r.ContentLength > lim.MaxRequestSize {
		return tooLarge("request body", lim.MaxRequestSize)
	}
	b.lim, b.maxDecoded, b.decodedLimit, b.what, b.length = lim, maxDecoded, maxDecoded, what, r.ContentLength
	b.wire = stopReader{r: http.MaxBytesReader(w, r.Body, lim.MaxRequestSize), stop: math.MaxInt64}
	b.encoding = strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch b.encoding {
	case "", "identity":
		b.encoding = "identity"
		b.src = &b.wire
		b.maxDecoded = min(maxDecoded, lim.MaxRequestSize)
		return nil
	case "gzip", "x-gzip", "deflate":
	default:
		return herald.Errorf(herald.EINVALID, "unsupported Content-Encoding %q: use gzip, deflate or identity", b.encoding)
	}

	if err := b.reserve(decoderSize); err != nil {
		return err
	}
	if b.br == nil {
		b.br = bufio.NewReader(&b.wire)
	} else {
		b.br.Reset(&b.wire)
	}
	if b.encoding != "deflate" {
		var err error
		if b.zr, _ = gzipReaders.Get().(*gzip.Reader); b.zr == nil {
			b.zr, err = gzip.NewReader(b.br)
		} else {
			err = b.zr.Reset(b.br)
		}
		if err != nil {
			return b.readError(err)
		}
		b.src = b.zr
		return nil
	}
	if head, err := b.br.Peek(2); err == nil && isZlibHeader(head) {
		zr, err := zlib.NewReader(b.br)
		if err != nil {
			return b.readError(err)
		}
		b.src, b.dec = zr, zr
	} else {
		fr := flate.NewReader(b.br)
		b.src, b.dec = fr, fr
	}
	return nil
}

// readLine reads the body as far as the end of its first line, an
// envelope's header, and returns the line (aliasing the buffer, without its
// newline). It decodes at most MaxEnvelopeHeaderSize+2 bytes, and the body
// will have given at most maxHeaderWire bytes from the wire, counted from its
// start; a longer line is refused with ETOOLARGE naming the limit. Reading
// on with readAll keeps what was read.
func (b *body) readLine() ([]byte, error) {
	b.wire.stop = maxHeaderWire
	defer func() { b.wire.stop = math.MaxInt64 }()
	limit := min(MaxEnvelopeHeaderSize+1, b.maxDecoded)
	err := b.fill(limit, true)
	switch {
	case errors.Is(err, errTooLarge) && int64(len(b.buf)) > b.maxDecoded:
		return nil, tooLarge(b.what, b.maxDecoded)
	case errors.Is(err, errTooLarge):
		return nil, tooLarge("envelope header", MaxEnvelopeHeaderSize)
	case err != nil:
		return nil, b.readError(err)
	}
	line, _ := cutLine(b.buf)
	return line, nil
}

// maxPreallocation bounds the buffer allocated for a body from its
// Content-Length before its bytes arrive.
const maxPreallocation = 256 << 10

// readAll reads the rest of the body and returns the whole of it.
func (b *body) readAll() ([]byte, error) {
	if b.encoding == "identity" && b.layer == "" && b.length > 0 && int64(cap(b.buf)) <= b.length && b.length < maxPreallocation {
		// One allocation of the announced size (plus the byte that
		// finds the end) rather than doubling up to it. Larger bodies
		// grow as their bytes arrive, so that one announcing much and
		// sending little holds little.
		if err := b.grow(int(min(b.length, b.maxDecoded) + 1)); err != nil {
			return nil, err
		}
	}
	err := b.fill(b.maxDecoded, false)
	if errors.Is(err, errTooLarge) {
		return nil, tooLarge(b.what, b.maxDecoded)
	} else if err != nil {
		return nil, b.readError(err)
	}
	return b.buf, nil
}

// errTooLarge is returned by fill for a body past its limit.
var errTooLarge = errors.New("too large")

// fill appends the decoded body to the buffer until it ends, or the buffer
// holds more than limit bytes (errTooLarge), or, with toNewline, the bytes
// appended hold a newline. It reads no more than limit+1 bytes into the
// buffer, which grows by doubling but never past limit+1, so a body that is
// too large allocates no more than one that fits. Each growth is reserved
// from the budget first (errBusy when it cannot be).
func (b *body) fill(limit int64, toNewline bool) error {
	for {
		if int64(len(b.buf)) > limit {
			return errTooLarge
		}
		if b.eof {
			return nil
		}
		end := int(min(int64(cap(b.buf)), limit+1))
		if len(b.buf) == end {
			if err := b.grow(int(min(max(2*int64(cap(b.buf)), 4096), limit+1))); err != nil {
				return err
			}
			end = cap(b.buf)
		}
		start := len(b.buf)
		n, err := b.src.Read(b.buf[start:end])
		b.buf = b.buf[:start+n]
		if errors.Is(err, io.EOF) {
			b.eof = true
		} else if err != nil {
			return err
		} else if toNewline && bytes.IndexByte(b.buf[start:], '\n') >= 0 {
			return nil
		}
	}
}

// grow makes the buffer's capacity n, keeping its content, once n bytes
// are reserved from the budget. The buffer it replaces stays reserved too:
// it is garbage the collector has not yet reclaimed, memory all the same,
// so a body that doubles its way to 20 MB counts about 40 MB.
func (b *body) grow(n int) error {
	if n <= cap(b.buf) {
		return nil
	}
	if err := b.reserve(int64(n)); err != nil {
		return err
	}
	grown := make([]byte, len(b.buf), n)
	copy(grown, b.buf)
	b.buf = grown
	return nil
}

// close closes the body's readers and forgets the request. The budget stays
// reserved; the handler releases it.
func (b *body) close() {
	if b.zr != nil {
		gzipReaders.Put(b.zr)
	}
	if b.dec != nil {
		_ = b.dec.Close()
	}
	if b.wire.r != nil {
		_ = b.wire.r.Close()
	}
	if b.br != nil {
		b.br.Reset(nil)
	}
	b.closeLegacy()
	b.wire, b.src, b.zr, b.dec, b.eof = stopReader{}, nil, nil, nil, false
}

// readError turns a read or decompression failure into a client error.
func (b *body) readError(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errBusy):
		return err
	case errors.Is(err, errWireStop):
		return tooLarge("envelope header", MaxEnvelopeHeaderSize)
	case errors.As(err, &mbe):
		return tooLarge("request body", b.lim.MaxRequestSize)
	case b.layer != "" && (b.tap.err == nil || !errors.Is(err, b.tap.err)):
		return herald.Errorf(herald.EINVALID, "invalid %s body: %v", b.layer, legacyCause(err))
	case b.encoding == "identity":
		return herald.Errorf(herald.EINVALID, "read body: %v", err)
	}
	return herald.Errorf(herald.EINVALID, "invalid %s body: %v", b.encoding, err)
}

// errWireStop is returned by a stopReader at its stop.
var errWireStop = errors.New("read stopped before the DSN key was checked")

// stopReader reads r, counting the bytes, and fails with errWireStop once
// it has read stop bytes.
type stopReader struct {
	r       io.ReadCloser
	n, stop int64
}

func (s *stopReader) Read(p []byte) (int, error) {
	if s.n >= s.stop {
		return 0, errWireStop
	}
	if int64(len(p)) > s.stop-s.n {
		p = p[:s.stop-s.n]
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	return n, err
}

// isZlibHeader reports whether b starts a zlib stream (RFC 1950): deflate
// compression and a header checksum divisible by 31. Raw deflate, which some
// clients send as "deflate", almost never looks like one.
func isZlibHeader(b []byte) bool {
	return b[0]&0x0f == 8 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0
}

// tooLarge returns the ETOOLARGE error for what exceeding limit bytes.
func tooLarge(what string, limit int64) error {
	return herald.Errorf(herald.ETOOLARGE, "%s exceeds the limit of %s", what, formatSize(limit))
}

// formatSize formats a byte count, in MB or KB when it is a whole number of
// them.
func formatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
