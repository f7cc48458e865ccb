package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/herald-dev/herald"
)

// MaxEnvelopeItems bounds the number of items of one envelope.
const MaxEnvelopeItems = 1000

// Envelope is a parsed Sentry envelope: a JSON header line followed by items,
// each a JSON header line and a payload.
type Envelope struct {
	// EventID is the header's event_id as 32 lowercase hex characters, or ""
	// when the header has none.
	EventID string
	// DSN is the header's dsn, which authenticates a self-contained envelope.
	DSN string
	// SentAt is the header's sent_at, zero when absent or not RFC 3339.
	SentAt time.Time
	Items  []Item
}

// Item is one envelope item. Its Payload aliases the parsed body.
type Item struct {
	// Type is the item type: "event", "transaction", "session",
	// "attachment", "client_report", "check_in", ...
	Type    string
	Payload []byte
}

// envelopeHeader is the part of an envelope header Herald reads.
type envelopeHeader struct {
	EventID json.RawMessage `json:"event_id"`
	DSN     json.RawMessage `json:"dsn"`
	SentAt  json.RawMessage `json:"sent_at"`
}

// itemHeader is the part of an item header Herald reads.
type itemHeader struct {
	Type   json.RawMessage `json:"type"`
	Length json.RawMessage `json:"length"`
}

// ParseEnvelope parses a Sentry envelope (https://develop.sentry.dev/sdk/data-model/envelopes/).
// An item with a length in its header has a payload of exactly that many
// bytes; one without runs to the next newline. Items of every type are
// returned; what to do with them is the caller's choice. A malformed envelope
// gets an EINVALID error naming the problem.
func ParseEnvelope(body []byte) (*Envelope, error) {
	line, rest := cutLine(body)
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, herald.Errorf(herald.EINVALID, "invalid envelope header: empty")
	}
	var h envelopeHeader
	if err := unmarshalObject(line, &h); err != nil {
		return nil, herald.Errorf(herald.EINVALID, "invalid envelope header: %s", err)
	}
	env := &Envelope{}
	if id, ok, err := stringValue(h.EventID); err != nil || !ok && !isNull(h.EventID) {
		return nil, herald.Errorf(herald.EINVALID, "invalid envelope header: event_id must be a string")
	} else if id != "" {
		if env.EventID, ok = normalizeID(id); !ok {
			return nil, herald.Errorf(herald.EINVALID, "invalid envelope header: event_id %s is not a UUID", quoteTrunc(id))
		}
	}
	if dsn, ok, err := stringValue(h.DSN); err != nil || !ok && !isNull(h.DSN) {
		return nil, herald.Errorf(herald.EINVALID, "invalid envelope header: dsn must be a string")
	} else {
		env.DSN = dsn
	}
	if s, _, _ := stringValue(h.SentAt); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			env.SentAt = t.UTC()
		}
	}

	for n := 1; ; n++ {
		// Blank lines between items and at the end are tolerated.
		for len(rest) > 0 && (rest[0] == '\n' || rest[0] == '\r' || rest[0] == ' ' || rest[0] == '\t') {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			return env, nil
		}
		if n > MaxEnvelopeItems {
			return nil, herald.Errorf(herald.ETOOLARGE, "envelope has more than %d items", MaxEnvelopeItems)
		}
		line, rest = cutLine(rest)
		var ih itemHeader
		if err := unmarshalObject(line, &ih); err != nil {
			return nil, herald.Errorf(herald.EINVALID, "item %d: invalid item header: %s", n, err)
		}
		typ, ok, err := stringValue(ih.Type)
		if err != nil || !ok || typ == "" {
			return nil, herald.Errorf(herald.EINVALID, "item %d: item header has no type", n)
		}
		var payload []byte
		if len(ih.Length) == 0 || isNull(ih.Length) {
			payload, rest = cutLine(rest)
			payload = bytes.TrimSuffix(payload, []byte{'\r'})
		} else {
			length, err := strconv.ParseUint(string(ih.Length), 10, 63)
			if err != nil {
				return nil, herald.Errorf(herald.EINVALID, "item %d: length %s is not a non-negative integer", n, truncate(string(ih.Length), 40))
			}
			if length > uint64(len(rest)) {
				return nil, herald.Errorf(herald.EINVALID, "item %d: length %d exceeds remaining body (%d bytes)", n, length, len(rest))
			}
			payload, rest = rest[:length], rest[length:]
			switch {
			case len(rest) == 0:
			case rest[0] == '\n':
				rest = rest[1:]
			case len(rest) > 1 && rest[0] == '\r' && rest[1] == '\n':
				rest = rest[2:]
			default:
				return nil, herald.Errorf(herald.EINVALID, "item %d: payload of length %d is not followed by a newline", n, length)
			}
		}
		env.Items = append(env.Items, Item{Type: typ, Payload: payload})
	}
}

// cutLine splits b at its first newline, dropping it (and a carriage return
// before it from the line).
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	return bytes.TrimSuffix(line, []byte{'\r'}), rest
}

// unmarshalObject decodes a JSON object into v, with an error message fit for
// a client.
func unmarshalObject(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return fmt.Errorf("not a JSON object")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonError returns a client-facing description of a JSON decoding error.
func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%s at offset %d", se.Error(), se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Errorf("%s must not be a JSON %s", te.Field, te.Value)
		}
		return fmt.Errorf("unexpected JSON %s", te.Value)
	}
	return err
}

// stringValue returns the string a raw JSON value holds; ok is false when it
// is absent, null or not a string (err is set only for a broken string).
func stringValue(raw json.RawMessage) (s string, ok bool, err error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, err
	}
	return s, true, nil
}

// isNull reports whether a raw JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// quoteTrunc quotes s for a message, shortened to 64 bytes.
func quoteTrunc(s string) string { return strconv.Quote(truncate(s, 64)) }
