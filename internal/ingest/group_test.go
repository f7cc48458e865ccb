package ingest

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/herald-dev/herald"
)

// SDK-shaped events for grouping tests.
const (
	// sentry-go: bare exception array, frames with module and function,
	// in_app set on the application's frames.
	goEventLine88 = `{"platform":"go","exception":[{"type":"*errors.errorString","value":"user 42 not found","stacktrace":{"frames":[
		{"function":"(*conn).serve","module":"net/http","lineno":2102},
		{"function":"(*Server).handleUser","module":"example.com/shop/api","lineno":88,"in_app":true},
		{"function":"(*Store).LoadUser","module":"example.com/shop/store","lineno":41,"in_app":true}]}}]}`
	goEventLine93 = `{"platform":"go","exception":[{"type":"*errors.errorString","value":"user 7 not found","stacktrace":{"frames":[
		{"function":"(*conn).serve","module":"net/http","lineno":2110},
		{"function":"(*Server).handleUser","module":"example.com/shop/api","lineno":93,"in_app":true},
		{"function":"(*Store).LoadUser","module":"example.com/shop/store","lineno":44,"in_app":true}]}}]}`
	goEventOtherFunc = `{"platform":"go","exception":[{"type":"*errors.errorString","value":"user 42 not found","stacktrace":{"frames":[
		{"function":"(*conn).serve","module":"net/http","lineno":2102},
		{"function":"(*Server).handleOrder","module":"example.com/shop/api","lineno":88,"in_app":true},
		{"function":"(*Store).LoadUser","module":"example.com/shop/store","lineno":41,"in_app":true}]}}]}`
	goEventOtherLibFrame = `{"platform":"go","exception":[{"type":"*errors.errorString","value":"user 42 not found","stacktrace":{"frames":[
		{"function":"(*http2serverConn).runHandler","module":"net/http","lineno":6400},
		{"function":"(*Server).handleUser","module":"example.com/shop/api","lineno":88,"in_app":true},
		{"function":"(*Store).LoadUser","module":"example.com/shop/store","lineno":41,"in_app":true}]}}]}`

	// @sentry/node: exception.values, frames with filename and function.
	nodeEvent = `{"platform":"node","exception":{"values":[{"type":"TypeError","value":"Cannot read properties of undefined (reading 'id')","stacktrace":{"frames":[
		{"filename":"/app/node_modules/express/lib/router/layer.js","function":"Layer.handle","lineno":95,"colno":5,"in_app":false},
		{"filename":"/app/src/routes/account.js","function":"loadAccount","lineno":27,"colno":26,"in_app":true},
		{"filename":"/app/src/utils/api.js","function":"fetchUser","lineno":14,"colno":46,"in_app":true}]}}]}}`
	nodeEventMoved = `{"platform":"node","exception":{"values":[{"type":"TypeError","value":"Cannot read properties of undefined (reading 'id')","stacktrace":{"frames":[
		{"filename":"/app/node_modules/express/lib/router/layer.js","function":"Layer.handle","lineno":95,"colno":5,"in_app":false},
		{"filename":"/app/src/routes/account.js","function":"loadAccount","lineno":31,"colno":2,"in_app":true},
		{"filename":"/app/src/utils/api.js","function":"fetchUser","lineno":19,"colno":12,"in_app":true}]}}]}}`
	nodeEventVersioned = `{"platform":"javascript","exception":{"values":[{"type":"TypeError","value":"x is undefined","stacktrace":{"frames":[
		{"filename":"https://app.example.com/assets/app.js?v=123","function":"render","lineno":1,"colno":500,"in_app":true}]}}]}}`
	nodeEventVersioned2 = `{"platform":"javascript","exception":{"values":[{"type":"TypeError","value":"x is undefined","stacktrace":{"frames":[
		{"filename":"https://app.example.com/assets/app.js?v=124","function":"render","lineno":1,"colno":812,"in_app":true}]}}]}}`

	// sentry-python: module and function.
	pythonEvent = `{"platform":"python","exception":{"values":[{"type":"ZeroDivisionError","value":"division by zero","module":null,"stacktrace":{"frames":[
		{"module":"django.core.handlers.base","function":"_get_response","lineno":197,"in_app":false},
		{"module":"shop.views","function":"report","lineno":31,"in_app":true},
		{"module":"shop.stats","function":"compute_ratio","lineno":12,"in_app":true}]}}]}}`
	pythonEventNoInApp = `{"platform":"python","exception":{"values":[{"type":"ZeroDivisionError","value":"division by zero","stacktrace":{"frames":[
		{"module":"django.core.handlers.base","function":"_get_response","lineno":197},
		{"module":"shop.views","function":"report","lineno":31}]}}]}}`
	pythonEventNoInAppOtherLib = `{"platform":"python","exception":{"values":[{"type":"ZeroDivisionError","value":"division by zero","stacktrace":{"frames":[
		{"module":"flask.app","function":"dispatch_request","lineno":880},
		{"module":"shop.views","function":"report","lineno":31}]}}]}}`
)

func TestGroupHash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"GoSameErrorOtherLines", goEventLine88, goEventLine93, true},
		{"GoOtherFunction", goEventLine88, goEventOtherFunc, false},
		{"GoNonInAppFramesIgnored", goEventLine88, goEventOtherLibFrame, true},
		{"NodeSameErrorOtherLines", nodeEvent, nodeEventMoved, true},
		{"NodeQueryStringIgnored", nodeEventVersioned, nodeEventVersioned2, true},
		{"NodeOtherType", nodeEvent, strings.Replace(nodeEvent, `"TypeError"`, `"RangeError"`, 1), false},
		{"NodeValueIgnoredWithFrames", nodeEvent, strings.Replace(nodeEvent, `(reading 'id')`, `(reading 'name')`, 1), true},
		{"PythonSameModuleFunction", pythonEvent, strings.Replace(pythonEvent, `"lineno":12`, `"lineno":15`, 1), true},
		{"PythonOtherFunction", pythonEvent, strings.Replace(pythonEvent, `"compute_ratio"`, `"compute_total"`, 1), false},
		{"PythonAllFramesWithoutInApp", pythonEventNoInApp, pythonEventNoInAppOtherLib, false},
		{"ExceptionFormsAgree",
			`{"exception":[{"type":"E","value":"v","stacktrace":{"frames":[{"module":"m","function":"f","in_app":true}]}}]}`,
			`{"exception":{"values":[{"type":"E","value":"v","stacktrace":{"frames":[{"module":"m","function":"f","in_app":true}]}}]}}`, true},
		{"TypeAndValueWithoutFrames", `{"exception":[{"type":"E","value":"a"}]}`, `{"exception":[{"type":"E","value":"b"}]}`, false},
		{"TypeAndValueWithoutFramesSame", `{"exception":[{"type":"E","value":"a"}],"message":"x"}`, `{"exception":[{"type":"E","value":"a"}],"message":"y"}`, true},
		{"MessageTemplate",
			`{"logentry":{"message":"User %s logged in","params":["1"]}}`,
			`{"logentry":{"message":"User %s logged in","params":["2"]}}`, true},
		{"MessageFormatted", `{"message":"disk full"}`, `{"message":"disk almost full"}`, false},
		{"FingerprintOverrides", `{"fingerprint":["db-down"],"message":"a"}`, `{"fingerprint":["db-down"],"exception":[{"type":"E"}]}`, true},
		{"FingerprintDefaultIsDefault", pythonEvent, strings.Replace(pythonEvent, `{"platform"`, `{"fingerprint":["{{ default }}"],"platform"`, 1), true},
		{"FingerprintDefaultNoSpaces", pythonEvent, strings.Replace(pythonEvent, `{"platform"`, `{"fingerprint":["{{default}}"],"platform"`, 1), true},
		{"FingerprintDefaultPlus",
			strings.Replace(pythonEvent, `{"platform"`, `{"fingerprint":["{{ default }}","tenant-a"],"platform"`, 1),
			strings.Replace(pythonEvent, `{"platform"`, `{"fingerprint":["{{ default }}","tenant-b"],"platform"`, 1), false},
		{"FingerprintType",
			`{"fingerprint":["{{ type }}"],"exception":[{"type":"E","value":"a"}]}`,
			`{"fingerprint":["{{ error.type }}"],"exception":[{"type":"E","value":"b"}]}`, true},
		{"TitleFallback", `{}`, `{"level":"info"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := mustParseEvent(t, tt.a), mustParseEvent(t, tt.b)
			if (a.GroupHash == b.GroupHash) != tt.same {
				t.Errorf("hashes %s and %s: same = %v, want %v", a.GroupHash, b.GroupHash, !tt.same, tt.same)
			}
			for _, e := range []*herald.Event{a, b} {
				h, err := GroupHash(e.Data)
				if err != nil || h != e.GroupHash {
					t.Errorf("GroupHash(Data) = %q, %v; want %q", h, err, e.GroupHash)
				}
			}
		})
	}
}

func TestGroupHash_Components(t *testing.T) {
	t.Parallel()
	md5hex := func(parts ...string) string {
		sum := md5.Sum([]byte(strings.Join(parts, "\x00") + "\x00"))
		return hex.EncodeToString(sum[:])
	}
	tests := []struct {
		name  string
		event string
		want  string
	}{
		{"InAppFrames", goEventLine88, md5hex("*errors.errorString", "example.com/shop/api", "(*Server).handleUser", "example.com/shop/store", "(*Store).LoadUser")},
		{"FilenameWithoutModule", nodeEvent, md5hex("TypeError", "/app/src/routes/account.js", "loadAccount", "/app/src/utils/api.js", "fetchUser")},
		{"AllFramesWithoutInApp", pythonEventNoInApp, md5hex("ZeroDivisionError", "django.core.handlers.base", "_get_response", "shop.views", "report")},
		{"Chain", `{"exception":{"values":[{"type":"KeyError","value":"'id'"},{"type":"LookupFailed","stacktrace":{"frames":[{"module":"m","function":"f"}]}}]}}`,
			md5hex("KeyError", "'id'", "LookupFailed", "m", "f")},
		{"TypeValue", `{"exception":[{"type":"E","value":"v"}]}`, md5hex("E", "v")},
		{"Template", `{"logentry":{"message":"a %s","formatted":"a b"}}`, md5hex("a %s")},
		{"Formatted", `{"message":"plain"}`, md5hex("plain")},
		{"Title", `{}`, md5hex("<unlabeled event>")},
		{"Fingerprint", `{"fingerprint":["a",1,"{{ level }}"],"level":"warn"}`, md5hex("a", "1", "warning")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := GroupHash([]byte(tt.event))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("GroupHash = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestGroupHash_SentryCLI(t *testing.T) {
	t.Parallel()
	e := mustParseFixture(t, "sentry-cli.envelope")
	// The fingerprint is {{ default }} (the message template) plus a word.
	sum := md5.Sum([]byte("Deploy %s finished with %d warnings\x00deploy-check\x00"))
	if want := hex.EncodeToString(sum[:]); e.GroupHash != want {
		t.Errorf("GroupHash = %s, want %s", e.GroupHash, want)
	}
}

func TestGroupHash_Invalid(t *testing.T) {
	t.Parallel()
	_, err := GroupHash([]byte(`[`))
	wantCode(t, err, herald.EINVALID)
}

func BenchmarkGroupHash(b *testing.B) {
	for _, name := range fixtures {
		env, err := ParseEnvelope(mustReadFile(b, name))
		if err != nil {
			b.Fatal(err)
		}
		ev, err := decodeEvent(env.Items[0].Payload, received)
		if err != nil {
			b.Fatal(err)
		}
		title := ev.title()
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = ev.groupHash(title)
			}
		})
	}
}
