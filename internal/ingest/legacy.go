package ingest

import (
	"bufio"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"strings"
	"sync"

	"github.com/herald-dev/herald"
)

// Old SDKs do not always send the store endpoint plain JSON. raven-node,
// raven-ruby (by default) and raven-go (above 1,000 bytes) send the base64
// of the zlib-compressed JSON, with Content-Type application/octet-stream;
// raven-python sends the zlib data itself, with Content-Encoding: deflate.
// Sentry's Relay decodes what they send whatever the Content-Type says: a
// body that starts with "{" is JSON, anything else is base64, whose
// decoding is JSON when it starts with "{" and zlib data otherwise. Herald
// does the same and also takes zlib data without a Content-Encoding
// (Relay answers 400), since a zlib header never starts base64 text or
// JSON. The decoding streams, bounded as any other body: what it holds is
// reserved from the in-flight budget, and the JSON it yields is bounded by
// Limits.MaxEventSize.

// base64DecoderSize is what the in-flight budget counts for the decoder of
// a base64 store body: the decoder's own buffers (under 2 KB) and the 4 KB
// read buffer that peeks at what it decodes and feeds the zlib
// decompressor.
const base64DecoderSize = 8 << 10

// maxStoreDecoders is the most the decoders of one store body take: a
// decompressor for its Content-Encoding, and for a legacy body a base64
// decoder and a zlib decompressor.
const maxStoreDecoders = 2*decoderSize + base64DecoderSize

// zlibReaders recycles the zlib readers of legacy store bodies.
var zlibReaders sync.Pool

// envelopeContentType is the Content-Type of a Sentry envelope. Relay
// parses a store request carrying it as an envelope.
const envelopeContentType = "application/x-sentry-envelope"

// isEnvelopeType reports whether a Content-Type header names a Sentry
// envelope.
func isEnvelopeType(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt, _, _ = strings.Cut(contentType, ";")
	}
	return strings.EqualFold(strings.TrimSpace(mt), envelopeContentType)
}

// openLegacy looks at the first bytes of a store body, once opened, and
// sets the body up to decode what old SDKs send:
//
//   - a zlib header: zlib-compressed JSON, decompressed;
//   - a character of the base64 alphabet: base64 text, decoded, then
//     decompressed when it holds zlib data or taken as it is when it holds
//     JSON (it starts with "{" or white space); anything else is refused;
//   - anything else ("{", white space, ...): the JSON itself.
//
// Each decoder is reserved from the in-flight budget before it is made
// (errBusy when it cannot be). The bytes it looked at are read again by
// what follows; nothing more of the body is read than it needs.
func (b *body) openLegacy() error {
	n, err := io.ReadFull(b.src, b.head[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return b.readError(err)
	}
	b.tap = errTap{r: b.src}
	b.pre = prefixReader{head: b.head[:n], r: &b.tap}
	head := b.head[:n]
	switch {
	case n >= 2 && isZlibHeader(head):
		b.layer = "zlib"
		b.maxDecoded = b.decodedLimit
		b.bufferedReader().Reset(&b.pre)
		return b.inflate(false)
	case n > 0 && isBase64Byte(head[0]):
	default:
		b.src = &b.pre
		return nil
	}

	if err := b.reserve(base64DecoderSize); err != nil {
		return err
	}
	b.layer = "base64"
	b.maxDecoded = b.decodedLimit
	lbr := b.bufferedReader()
	b.b64 = base64Text{r: &b.pre}
	lbr.Reset(base64.NewDecoder(base64.StdEncoding, &b.b64))
	peek, err := lbr.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return b.readError(err)
	}
	switch {
	case len(peek) == 2 && isZlibHeader(peek):
		b.layer = "base64-encoded zlib"
		return b.inflate(true)
	case len(peek) > 0 && (peek[0] == '{' || isJSONSpace(peek[0])):
		b.src = lbr
		return nil
	}
	return herald.Errorf(herald.EINVALID, "invalid base64 body: it decodes to neither JSON nor zlib-compressed JSON")
}

// inflate sets the body to decompress the zlib stream that its buffered
// reader gives, after reserving decoderSize for the decompressor. With
// drain, the rest of the buffered reader's source is read to its end when
// the stream ends, so that base64 text is checked to its end as when it is
// decoded whole.
func (b *body) inflate(drain bool) error {
	if err := b.reserve(decoderSize); err != nil {
		return err
	}
	var err error
	if zr, _ := zlibReaders.Get().(io.ReadCloser); zr != nil {
		b.lz = zr
		err = zr.(zlib.Resetter).Reset(b.lbr, nil)
	} else {
		b.lz, err = zlib.NewReader(b.lbr)
	}
	if err != nil {
		return b.readError(err)
	}
	b.src = b.lz
	if drain {
		b.drain = drainReader{r: b.lz, rest: b.lbr}
		b.src = &b.drain
	}
	return nil
}

// bufferedReader returns the body's read buffer for legacy decoding,
// allocated on first use and kept for reuse.
func (b *body) bufferedReader() *bufio.Reader {
	if b.lbr == nil {
		b.lbr = bufio.NewReader(nil)
	}
	return b.lbr
}

// closeLegacy recycles the legacy decoders and forgets their state.
func (b *body) closeLegacy() {
	if b.lz != nil {
		zlibReaders.Put(b.lz)
	}
	if b.lbr != nil {
		b.lbr.Reset(nil)
	}
	b.lz, b.layer, b.pre, b.tap, b.b64, b.drain = nil, "", prefixReader{}, errTap{}, base64Text{}, drainReader{}
}

// legacyCause describes what a legacy decoder found wrong. A streaming
// base64 decoder counts the offset of bad data from its last read rather
// than from the body's start, so that offset is left out.
func legacyCause(err error) error {
	var cie base64.CorruptInputError
	if errors.As(err, &cie) {
		return errors.New("illegal base64 data")
	}
	return err
}

// isBase64Byte reports whether c is in the standard base64 alphabet
// (padding included).
func isBase64Byte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '='
}

// isJSONSpace reports whether c is white space that may precede JSON.
func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// prefixReader reads head, then r.
type prefixReader struct {
	head []byte
	r    io.Reader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// errTap reads r and keeps the last error other than io.EOF that r
// returned, so that a failure below a legacy decoder (the wire's, or its
// Content-Encoding's), which the decoder passes on, is told apart from the
// decoder's own.
type errTap struct {
	r   io.Reader
	err error
}

func (t *errTap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		t.err = err
	}
	return n, err
}

// base64Text reads base64 text from r and fails on any after its padding
// but more padding and line breaks. A streaming decoder takes text that
// goes on after padding that ended one of its reads, which decoding the
// whole text refuses; Relay decodes the whole text.
type base64Text struct {
	r      io.Reader
	padded bool
}

func (t *base64Text) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	for i, c := range p[:n] {
		switch {
		case c == '=':
			t.padded = true
		case c == '\r' || c == '\n':
		case t.padded:
			return i, base64.CorruptInputError(i)
		}
	}
	return n, err
}

// drainReader reads r and, once r ends, reads rest to its end, failing
// with rest's error if it has one.
type drainReader struct {
	r, rest io.Reader
}

func (d *drainReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if errors.Is(err, io.EOF) && d.rest != nil {
		rest := d.rest
		d.rest = nil
		if _, derr := io.Copy(io.Discard, rest); derr != nil {
			return n, derr
		}
	}
	return n, err
}
