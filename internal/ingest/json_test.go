package ingest

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestValidJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"Object", `{"a":[1,-2.5e+3,true,false,null,"x\"\\\/\b\f\n\r\tA\u00e9"],"b":{}}`, true},
		{"Spaces", " \t\r\n{ \"a\" : [ ] , \"b\" : 0 } \n", true},
		{"Scalar", `"x"`, true},
		{"Empty", ``, false},
		{"TrailingComma", `{"a":1,}`, false},
		{"TrailingData", `{} {}`, false},
		{"LeadingZero", `[01]`, false},
		{"BareDot", `[1.]`, false},
		{"BadExponent", `[1e]`, false},
		{"MinusAlone", `[-]`, false},
		{"BadEscape", `["\x"]`, false},
		{"ShortUnicode", `["\u12"]`, false},
		{"ControlChar", "[\"a\tb\"]", false},
		{"Unterminated", `{"a":"b`, false},
		{"SingleQuotes", `{'a':1}`, false},
		{"BadLiteral", `[nul]`, false},
		{"MissingColon", `{"a" 1}`, false},
		{"NonStringKey", `{1:2}`, false},
		{"DeepButFine", string(bytes.Repeat([]byte{'['}, 500)) + string(bytes.Repeat([]byte{']'}, 500)), true},
		{"TooDeep", string(bytes.Repeat([]byte{'['}, maxDepth+1)) + string(bytes.Repeat([]byte{']'}, maxDepth+1)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := validJSON([]byte(tt.in)); got != tt.want {
				t.Errorf("validJSON = %v, want %v", got, tt.want)
			}
			if std := json.Valid([]byte(tt.in)); std != tt.want {
				t.Errorf("json.Valid = %v: the case is wrong", std)
			}
		})
	}
}

func TestMembers(t *testing.T) {
	t.Parallel()
	obj := []byte(`{ "a" : "x\\" , "b\"c":[1,{"d":"]}"}], "e":-1.5e3,"f":null }`)
	var got []string
	for k, v := range members(obj) {
		got = append(got, unquoteKey(k)+"="+string(v))
	}
	want := []string{`a="x\\"`, `b"c=[1,{"d":"]}"}]`, `e=-1.5e3`, `f=null`}
	if len(got) != len(want) {
		t.Fatalf("members = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("member %d = %q, want %q", i, got[i], want[i])
		}
	}
	var elems []string
	for v := range elements([]byte(`[ "a,b" , [1,2] ,{"c":3}, 4 ]`)) {
		elems = append(elems, string(v))
	}
	if want := []string{`"a,b"`, `[1,2]`, `{"c":3}`, `4`}; len(elems) != 4 || elems[0] != want[0] || elems[1] != want[1] || elems[2] != want[2] || elems[3] != want[3] {
		t.Errorf("elements = %q, want %q", elems, want)
	}
}

// FuzzJSON checks the scanner against encoding/json: the same inputs are
// valid, and an object's members are the ones encoding/json decodes.
func FuzzJSON(f *testing.F) {
	for _, name := range fixtures {
		env, err := ParseEnvelope(mustReadFile(f, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(env.Items[0].Payload)
	}
	for _, s := range []string{`{"a":"\\\""}`, `[1,2.5e-3,"\u00e9"]`, `{"a":{"b":[{}]}}`, `{"a":1,"a":2}`, `"\ud800"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		valid := validJSON(b)
		if std := json.Valid(b); valid != std {
			t.Fatalf("validJSON = %v, json.Valid = %v", valid, std)
		}
		if !valid || !utf8.Valid(b) {
			return
		}
		b = bytes.TrimSpace(b)
		var want map[string]json.RawMessage
		if json.Unmarshal(b, &want) != nil || want == nil {
			return
		}
		got := map[string]json.RawMessage{}
		for k, v := range members(b) {
			got[unquoteKey(k)] = v
		}
		if len(got) != len(want) {
			t.Fatalf("members %v, want %v", got, want)
		}
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				t.Fatalf("member %q = %s, want %s", k, got[k], v)
			}
			var n int
			for range elements(v) {
				n++
			}
			var elems []json.RawMessage
			if json.Unmarshal(v, &elems) == nil && len(elems) != n {
				t.Fatalf("elements of %s: %d, want %d", v, n, len(elems))
			}
		}
	})
}
