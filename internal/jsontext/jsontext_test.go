package jsontext_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/herald-dev/herald/internal/jsontext"
)

func TestSkipString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    string
		i    int
		want int
	}{
		{"Plain", `"abc",1`, 0, 5},
		{"EscapedQuote", `"a\"b" `, 0, 6},
		{"EscapedBackslash", `"a\\" `, 0, 5},
		{"Inner", `{"k":"v"}`, 5, 8},
		{"Unterminated", `"abc`, 0, 4},
		{"EscapeAtEnd", `"ab\`, 0, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := jsontext.SkipString(tt.v, tt.i); got != tt.want {
				t.Errorf("SkipString(%q, %d) = %d, want %d", tt.v, tt.i, got, tt.want)
			}
			if got := jsontext.SkipString([]byte(tt.v), tt.i); got != tt.want {
				t.Errorf("SkipString([]byte(%q), %d) = %d, want %d", tt.v, tt.i, got, tt.want)
			}
		})
	}
}

func TestAppendCompact(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, v, want string }{
		{"Compact", `{"a":[1,2]}`, `{"a":[1,2]}`},
		{"Spaces", " { \"a\" : [ 1 ,\n\t2 ] }\r\n", `{"a":[1,2]}`},
		{"SpacesInStrings", `{ "a b" : " c \" d " }`, `{"a b":" c \" d "}`},
		{"BackslashBeforeQuote", `[ "\\" , " " ]`, `["\\"," "]`},
		{"Scalar", ` 12 `, `12`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(jsontext.AppendCompact([]byte("x"), tt.v)); got != "x"+tt.want {
				t.Errorf("AppendCompact(%q) = %q, want %q", tt.v, got, "x"+tt.want)
			}
			if got := string(jsontext.AppendCompact(nil, []byte(tt.v))); got != tt.want {
				t.Errorf("AppendCompact([]byte(%q)) = %q, want %q", tt.v, got, tt.want)
			}
		})
	}
}

// FuzzAppendCompact: for any valid JSON, AppendCompact gives what
// encoding/json's Compact gives.
func FuzzAppendCompact(f *testing.F) {
	f.Add(`{"a" : "x \\\" y\\" , "b\\\\" :[ "\\" , " " ] }`)
	f.Add(" [1, {\"k\": null}, true ] ")
	f.Add(`"\u0041 \n"`)
	f.Fuzz(func(t *testing.T, v string) {
		if !json.Valid([]byte(v)) {
			return
		}
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(v)); err != nil {
			t.Fatal(err)
		}
		if got := jsontext.AppendCompact(nil, v); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("AppendCompact(%q) = %q, want %q", v, got, want.Bytes())
		}
	})
}

// BenchmarkAppendCompact compacts 5 KB of compact JSON that is mostly
// strings, as a Service Hook body does with a stored event's members.
func BenchmarkAppendCompact(b *testing.B) {
	frames := make([]map[string]any, 20)
	for i := range frames {
		frames[i] = map[string]any{"filename": strings.Repeat("app/handlers/", 3) + "orders.go",
			"function": "(*Server).handleOrder", "lineno": i, "context_line": "\treturn fmt.Errorf(\"order %d: %w\", id, err)"}
	}
	data, err := json.Marshal(map[string]any{"exception": map[string]any{"values": []any{map[string]any{"stacktrace": frames}}}})
	if err != nil {
		b.Fatal(err)
	}
	v := string(data)
	dst := make([]byte, 0, len(v))
	b.ReportAllocs()
	for b.Loop() {
		dst = jsontext.AppendCompact(dst[:0], v)
	}
}

// encodeString is what AppendString must match: encoding/json's Encoder
// without HTML escaping, its newline cut.
func encodeString(t testing.TB, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendString(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, s, want string }{
		{"Plain", "abc", `"abc"`},
		{"Empty", "", `""`},
		{"QuoteAndBackslash", `a"b\c`, `"a\"b\\c"`},
		{"ShortEscapes", "\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"OtherControls", "\x00\x1f\x7f", `"\u0000\u001f` + "\x7f" + `"`},
		{"HTMLKept", "<a href='x'>&</a>", `"<a href='x'>&</a>"`},
		{"LineSeparators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"MultiByte", "é – 日本", `"é – 日本"`},
		{"InvalidUTF8", "a\xffb\xe2\x82", `"a\ufffdb\ufffd\ufffd"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := jsontext.AppendString([]byte("x"), tt.s)
			if string(got) != "x"+tt.want {
				t.Errorf("AppendString(%q) = %s, want %s", tt.s, got, tt.want)
			}
			if want := encodeString(t, tt.s); !bytes.Equal(got[1:], want) {
				t.Errorf("AppendString(%q) = %s, encoding/json gives %s", tt.s, got[1:], want)
			}
		})
	}
}

// FuzzAppendString: for any string, AppendString gives what encoding/json
// gives.
func FuzzAppendString(f *testing.F) {
	f.Add("a\"b\\c\b\f\n\r\t\x00\x1f")
	f.Add("<>&\u2028\u2029\xff\xe2\x82")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := jsontext.AppendString(nil, s), encodeString(t, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func TestAppendPairs(t *testing.T) {
	t.Parallel()
	type kv struct{ k, v string }
	pair := func(p kv) (string, string) { return p.k, p.v }
	tests := []struct {
		name  string
		items []kv
		want  string
	}{
		{"None", nil, `[]`},
		{"One", []kv{{"level", "error"}}, `[["level","error"]]`},
		{"EscapedAndEmpty", []kv{{`a"b`, "\n"}, {"", ""}}, `[["a\"b","\n"],["",""]]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(jsontext.AppendPairs([]byte("x"), tt.items, pair)); got != "x"+tt.want {
				t.Errorf("AppendPairs = %s, want x%s", got, tt.want)
			}
		})
	}
}
