package ingest

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/herald-dev/herald"
)

// gzipReaders recycles gzip readers (each holds about 40 KB of state).
var gzipReaders sync.Pool

// readBody reads r's body within the limits, undoing its Content-Encoding,
// and returns the decoded bytes, appended to buf[:0]. The body may take at
// most lim.MaxRequestSize bytes on the wire and maxDecoded bytes decoded;
// what is too large is refused with ETOOLARGE after reading at most one byte
// past the limit, so a compression bomb costs no more memory than an honest
// body of the largest allowed size. what names the body in that message.
func readBody(w http.ResponseWriter, r *http.Request, lim Limits, maxDecoded int64, what string, buf []byte) ([]byte, error) {
	if r.ContentLength > lim.MaxRequestSize {
		return buf[:0], tooLarge("request body", lim.MaxRequestSize)
	}
	wire := http.MaxBytesReader(w, r.Body, lim.MaxRequestSize)
	defer func() { _ = wire.Close() }()

	var src io.Reader
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		src = wire
		maxDecoded = min(maxDecoded, lim.MaxRequestSize)
	case "gzip", "x-gzip":
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(wire)
		} else {
			err = zr.Reset(wire)
		}
		if err != nil {
			return buf[:0], decodeError("gzip", err, lim)
		}
		defer gzipReaders.Put(zr)
		src = zr
	case "deflate":
		br := bufio.NewReader(wire)
		if head, err := br.Peek(2); err == nil && isZlibHeader(head) {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return buf[:0], decodeError("deflate", err, lim)
			}
			defer func() { _ = zr.Close() }()
			src = zr
		} else {
			fr := flate.NewReader(br)
			defer func() { _ = fr.Close() }()
			src = fr
		}
	default:
		return buf[:0], herald.Errorf(herald.EINVALID, "unsupported Content-Encoding %q: use gzip, deflate or identity", enc)
	}

	if enc := encodingName(r); enc == "identity" && r.ContentLength > 0 && int64(cap(buf)) <= r.ContentLength {
		// One allocation of the announced size (plus the byte that
		// finds the end) rather than doubling up to it.
		buf = make([]byte, 0, min(r.ContentLength, maxDecoded)+1)
	}
	body, err := readLimited(src, buf[:0], maxDecoded)
	if errors.Is(err, errTooLarge) {
		return body, tooLarge(what, maxDecoded)
	} else if err != nil {
		return body, decodeError(encodingName(r), err, lim)
	}
	return body, nil
}

// encodingName returns r's Content-Encoding for messages.
func encodingName(r *http.Request) string {
	if enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc != "" {
		return enc
	}
	return "identity"
}

// isZlibHeader reports whether b starts a zlib stream (RFC 1950): deflate
// compression and a header checksum divisible by 31. Raw deflate, which some
// clients send as "deflate", almost never looks like one.
func isZlibHeader(b []byte) bool {
	return b[0]&0x0f == 8 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0
}

// errTooLarge is returned by readLimited for input past its limit.
var errTooLarge = errors.New("too large")

// readLimited appends r's content to buf and returns it, or errTooLarge once
// it holds more than limit bytes. The buffer grows by doubling but never
// past limit+1, so a body that is too large allocates no more than one that fits.
func readLimited(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return buf, errTooLarge
			}
			grown := make([]byte, len(buf), min(max(2*cap(buf), 4096), int(limit)+1))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		} else if err != nil {
			return buf, err
		}
	}
}

// decodeError turns a read or decompression failure into a client error.
func decodeError(encoding string, err error, lim Limits) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge("request body", lim.MaxRequestSize)
	}
	if encoding == "identity" {
		return herald.Errorf(herald.EINVALID, "read body: %v", err)
	}
	return herald.Errorf(herald.EINVALID, "invalid %s body: %v", encoding, err)
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
