package sentryhook_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/herald-dev/herald/sentryhook"
	"github.com/herald-dev/herald/sentryhook/sentryhooktest"
)

// FuzzVerify: a body's own signature verifies under its secret, any other
// signature or secret fails with a sentinel error, and nothing panics.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(seedBody), secret, seedSignature)
	f.Add([]byte{}, "s", "")
	f.Add([]byte("x"), "s", "ZZ")
	f.Add([]byte("{}"), "secret", "00000000000000000000000000000000000000000000000000000000000000000")
	f.Fuzz(func(t *testing.T, body []byte, key, signature string) {
		err := sentryhook.Verify(body, signature, key)
		if key == "" {
			if !errors.Is(err, sentryhook.ErrNoSecret) {
				t.Fatalf("empty secret: %v", err)
			}
			return
		}
		own := sentryhook.Sign(key, body)
		if err := sentryhook.Verify(body, own, key); err != nil {
			t.Fatalf("own signature: %v", err)
		}
		if err == nil {
			if len(signature) != 64 {
				t.Fatalf("accepted a signature of length %d", len(signature))
			}
			return
		}
		if !errors.Is(err, sentryhook.ErrMissingSignature) && !errors.Is(err, sentryhook.ErrMalformedSignature) && !errors.Is(err, sentryhook.ErrSignatureMismatch) {
			t.Fatalf("unexpected error %v", err)
		}
		if err := sentryhook.Verify(body, own, key+"x"); !errors.Is(err, sentryhook.ErrSignatureMismatch) {
			t.Fatalf("other secret: %v", err)
		}
	})
}

// FuzzParse: any body, with the headers of any kind, parses or fails with
// ErrInvalidPayload, and a parsed delivery is consistent.
func FuzzParse(f *testing.F) {
	for _, event := range sentryhooktest.Events() {
		f.Add(sentryhooktest.MustPayload(event), uint8(0), "")
	}
	f.Add([]byte(`{"action":"x","data":{"issue":{"count":"1"}},"actor":{"id":1e400}}`), uint8(1), "issue")
	f.Add([]byte(`{"triggering_rules":null,"event":{"event_id":"a","tags":[["a"],["b","c","d"]]}}`), uint8(2), "")
	f.Add([]byte(`[]`), uint8(1), "comment")
	f.Fuzz(func(t *testing.T, body []byte, kind uint8, resource string) {
		h := http.Header{}
		switch kind % 3 {
		case 1:
			h.Set(sentryhook.HeaderResource, resource)
			h.Set(sentryhook.HeaderSignature, "x")
		case 2:
			h.Set(sentryhook.HeaderServiceHookSignature, "x")
		}
		d, err := sentryhook.Parse(h, body)
		if err != nil {
			if !errors.Is(err, sentryhook.ErrInvalidPayload) {
				t.Fatalf("error %v does not wrap ErrInvalidPayload", err)
			}
			return
		}
		if d.Resource == "" || d.Action == "" || d.DedupeKey() == "" || string(d.Body) != string(body) {
			t.Fatalf("delivery = %+v", d)
		}
		if d.Kind == sentryhook.KindServiceHook && d.Payload == nil {
			t.Fatal("service hook delivery without a payload")
		}
	})
}
