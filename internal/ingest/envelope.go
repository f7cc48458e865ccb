package ingest

import (
	"bytes"
	"strconv"
	"time"

	"github.com/herald-dev/herald"
)

// MaxEnvelopeItems bounds the number of items of one envelope.
const MaxEnvelopeItems = 1000

// MaxEnvelopeHeaderSize bounds the header line of an envelope, without its
// newline. SDKs send a few hundred bytes (event_id, dsn, sdk, sent_at and
// the trace context), a few KB at most. An envelope that carries its DSN key
// only in this header is read no further than the line until the key is
// checked.
const MaxEnvelopeHeaderSize = 64 << 10

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

// ParseEnvelope parses a Sentry envelope (https://develop.sentry.dev/sdk/data-model/envelopes/).
// An item with a length in its header has a payload of exactly that many
// bytes; one without runs to the next newline. The header line may take at
// most MaxEnvelopeHeaderSize bytes (ETOOLARGE). Items of every type are
// returned; what to do with them is the caller's choice. A malformed envelope
// gets an EINVALID error naming the problem.
func ParseEnvelope(body []byte) (*Envelope, error) {
	line, rest := cutLine(body)
	env, err := parseEnvelopeHeader(line)
	if err != nil {
		return nil, err
	}
	if err := env.parseItems(rest); err != nil {
		return nil, err
	}
	return env, nil
}

// parseEnvelopeHeader parses the first line of an envelope, without its
// newline.
func parseEnvelopeHeader(line []byte) (*Envelope, error) {
	if len(line) > MaxEnvelopeHeaderSize {
		return nil, tooLarge("envelope header", MaxEnvelopeHeaderSize)
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil, herald.Errorf(herald.EINVALID, "invalid envelope header: empty")
	}
	if err := checkObject(line); err != nil {
		return nil, herald.Errorf(herald.EINVALID, "invalid envelope header: %s", err)
	}
	env := &Envelope{}
	for k, v := range members(line) {
		switch string(k) {
		case "event_id":
			if v[0] == 'n' {
				continue
			}
			if v[0] != '"' {
				return nil, herald.Errorf(herald.EINVALID, "invalid envelope header: event_id must be a string")
			}
			if id := unquote(v); id != "" {
				var ok bool
				if env.EventID, ok = normalizeID(id); !ok {
					return nil, herald.Errorf(herald.EINVALID, "invalid envelope header: event_id %s is not a UUID", quoteTrunc(id))
				}
			}
		case "dsn":
			if v[0] != '"' && v[0] != 'n' {
				return nil, herald.Errorf(herald.EINVALID, "invalid envelope header: dsn must be a string")
			}
			env.DSN = textOf(v)
		case "sent_at":
			if t, err := time.Parse(time.RFC3339Nano, textOf(v)); err == nil {
				env.SentAt = t.UTC()
			}
		}
	}
	return env, nil
}

// parseItems parses the items of an envelope, the body after its header
// line, into env.Items.
func (env *Envelope) parseItems(rest []byte) error {
	var line []byte
	for n := 1; ; n++ {
		// Blank lines between items and at the end are tolerated.
		for len(rest) > 0 && (rest[0] == '\n' || rest[0] == '\r' || rest[0] == ' ' || rest[0] == '\t') {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			return nil
		}
		if n > MaxEnvelopeItems {
			return herald.Errorf(herald.ETOOLARGE, "envelope has more than %d items", MaxEnvelopeItems)
		}
		line, rest = cutLine(rest)
		line = bytes.TrimSpace(line)
		if err := checkObject(line); err != nil {
			return herald.Errorf(herald.EINVALID, "item %d: invalid item header: %s", n, err)
		}
		var typ string
		var length []byte
		for k, v := range members(line) {
			switch string(k) {
			case "type":
				typ = ""
				if v[0] == '"' {
					typ = unquote(v)
				}
			case "length":
				length = v
			}
		}
		if typ == "" {
			return herald.Errorf(herald.EINVALID, "item %d: item header has no type", n)
		}
		var payload []byte
		if len(length) == 0 || string(length) == "null" {
			payload, rest = cutLine(rest)
			payload = bytes.TrimSuffix(payload, []byte{'\r'})
		} else {
			size, err := strconv.ParseUint(string(length), 10, 63)
			if err != nil {
				return herald.Errorf(herald.EINVALID, "item %d: length %s is not a non-negative integer", n, truncate(string(length), 40))
			}
			if size > uint64(len(rest)) {
				return herald.Errorf(herald.EINVALID, "item %d: length %d exceeds remaining body (%d bytes)", n, size, len(rest))
			}
			payload, rest = rest[:size], rest[size:]
			switch {
			case len(rest) == 0:
			case rest[0] == '\n':
				rest = rest[1:]
			case len(rest) > 1 && rest[0] == '\r' && rest[1] == '\n':
				rest = rest[2:]
			default:
				return herald.Errorf(herald.EINVALID, "item %d: payload of length %d is not followed by a newline", n, size)
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

// quoteTrunc quotes s for a message, shortened to 64 bytes.
func quoteTrunc(s string) string { return strconv.Quote(truncate(s, 64)) }
