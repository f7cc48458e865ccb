// Package jsontext reads and rewrites JSON text that is already known to
// be valid, byte by byte, without decoding it: what ingest does to the
// events SDKs send and the webhook payloads do to stored events. It also
// writes JSON strings, as encoding/json does, without reflection.
package jsontext

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// SkipString returns the index just past the JSON string that starts with
// the quote at v[i], or len(v) when it does not end. The string's escapes
// are not checked.
func SkipString[T string | []byte](v T, i int) int {
	open := i
	for {
		j := indexQuote(v, i+1)
		if j < 0 {
			return len(v)
		}
		i += 1 + j
		escapes := 0
		for k := i - 1; k > open && v[k] == '\\'; k-- {
			escapes++
		}
		if escapes%2 == 0 {
			return i + 1
		}
	}
}

// indexQuote is the index in v[from:] of its first quote, or -1.
func indexQuote[T string | []byte](v T, from int) int {
	switch s := any(v).(type) {
	case string:
		return strings.IndexByte(s[from:], '"')
	case []byte:
		return bytes.IndexByte(s[from:], '"')
	}
	return -1
}

// AppendCompact appends the valid JSON value v to dst without the
// whitespace between its tokens. Strings are skipped whole, and each run
// between two whitespace bytes is appended at once: a compact value is one
// copy.
func AppendCompact[T string | []byte](dst []byte, v T) []byte {
	start := 0
	for i := 0; i < len(v); {
		switch v[i] {
		case '"':
			i = SkipString(v, i)
			continue
		case ' ', '\t', '\n', '\r':
			dst = append(dst, v[start:i]...)
			start = i + 1
		}
		i++
	}
	return append(dst, v[start:]...)
}

// AppendString appends s to dst as a JSON string, byte for byte as
// encoding/json's Encoder writes it with SetEscapeHTML(false): quotes and
// backslashes escaped, \b \f \n \r \t in short form, other control
// characters as \u00XX, U+2028 and U+2029 (line ends to JavaScript) as
// \u2028 and \u2029, and each byte that is not valid UTF-8 as \ufffd.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendPairs appends items as a JSON array of pairs of strings,
// [["k","v"],...], pair giving each item's two strings: the form of
// Sentry's event tags.
func AppendPairs[T any](dst []byte, items []T, pair func(T) (string, string)) []byte {
	dst = append(dst, '[')
	for i, it := range items {
		if i > 0 {
			dst = append(dst, ',')
		}
		k, v := pair(it)
		dst = append(dst, '[')
		dst = AppendString(dst, k)
		dst = append(dst, ',')
		dst = AppendString(dst, v)
		dst = append(dst, ']')
	}
	return append(dst, ']')
}
