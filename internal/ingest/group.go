package ingest

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"time"
)

// GroupHash returns the grouping hash of an event given as JSON: as an SDK
// sends it, or the Data of an event Herald normalized (both give the hash
// the event was stored under). Events with the same hash are one issue.
//
// As in Sentry, the hash is the MD5 of the event's grouping components:
//   - its fingerprint, when it sets one ("{{ default }}" stands for the
//     default components; "{{ type }}", "{{ value }}", "{{ transaction }}"
//     and "{{ level }}" for those fields);
//   - else, for each exception, its type and the module (or file name) and
//     function of its in-app frames, or of all its frames when none is
//     in-app; line numbers are left out, so an error that moves within a
//     function stays in its issue; an exception without frames contributes
//     its type and value;
//   - else the log message (its template when the SDK sent one);
//   - else the title.
func GroupHash(event []byte) (string, error) {
	ev, err := decodeEvent(event, time.Time{})
	if err != nil {
		return "", err
	}
	return ev.groupHash(ev.title()), nil
}

// groupHash returns the grouping hash of an event whose title is title.
func (ev *sdkEvent) groupHash(title string) string {
	b := make([]byte, 0, 512)
	if len(ev.fingerprint) > 0 {
		for _, part := range ev.fingerprint {
			switch fingerprintVariable(part) {
			case "default":
				b = ev.appendDefaultComponents(b, title)
			case "type", "error.type":
				if ex := ev.lastException(); ex != nil {
					b = appendComponent(b, ex.Type)
				}
			case "value", "error.value":
				if ex := ev.lastException(); ex != nil {
					b = appendComponent(b, ex.Value)
				}
			case "transaction":
				b = appendComponent(b, ev.transaction)
			case "level":
				b = appendComponent(b, ev.level)
			default:
				b = appendComponent(b, part)
			}
		}
	} else {
		b = ev.appendDefaultComponents(b, title)
	}
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// fingerprintVariable returns the name of a fingerprint variable such as
// "{{ default }}", lowercased, or "" when s is not one.
func fingerprintVariable(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{{") || !strings.HasSuffix(s, "}}") || len(s) < 4 {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(s[2 : len(s)-2]))
}

// appendDefaultComponents appends the components Sentry groups an event by
// when it sets no fingerprint.
func (ev *sdkEvent) appendDefaultComponents(b []byte, title string) []byte {
	n := len(b)
	for i := range ev.exceptions {
		ex := &ev.exceptions[i]
		typ := strings.TrimSpace(ex.Type)
		inAppOnly := false
		for j := range ex.frames {
			if ex.frames[j].InApp == flagTrue {
				inAppOnly = true
				break
			}
		}
		wrote := false
		for j := range ex.frames {
			f := &ex.frames[j]
			if inAppOnly && f.InApp != flagTrue {
				continue
			}
			loc, fn := f.groupLocation(), strings.TrimSpace(f.Function)
			if loc == "" && fn == "" {
				continue
			}
			if !wrote {
				b = appendComponent(b, typ)
				wrote = true
			}
			b = appendComponent(b, loc)
			b = appendComponent(b, fn)
		}
		if !wrote && (typ != "" || ex.Value != "") {
			b = appendComponent(b, typ)
			b = appendComponent(b, ex.Value)
		}
	}
	switch {
	case len(b) > n:
		return b
	case ev.template != "":
		return appendComponent(b, ev.template)
	case ev.formatted != "":
		return appendComponent(b, ev.formatted)
	}
	return appendComponent(b, title)
}

// groupLocation is the part of a frame's location that groups: its module,
// else its file name (or absolute path) without a query string or fragment,
// which often carry cache-busting versions.
func (f *sdkFrame) groupLocation() string {
	if m := strings.TrimSpace(f.Module); m != "" {
		return m
	}
	name := strings.TrimSpace(f.Filename)
	if name == "" {
		name = strings.TrimSpace(f.AbsPath)
	}
	if i := strings.IndexAny(name, "?#"); i >= 0 {
		name = name[:i]
	}
	return name
}

// appendComponent appends one grouping component and its terminator.
func appendComponent(b []byte, s string) []byte {
	return append(append(b, s...), 0)
}
