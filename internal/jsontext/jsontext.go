// Package jsontext reads and rewrites JSON text that is already known to
// be valid, byte by byte, without decoding it: what ingest does to the
// events SDKs send and the webhook payloads do to stored events.
package jsontext

import (
	"bytes"
	"strings"
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
