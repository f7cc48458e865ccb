package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"testing"

	"github.com/herald-dev/herald/internal/webhook"
)

// TestSign checks Sign against vectors computed with the seed's Flask
// receiver (hmac.new(key=secret.encode("utf-8"), msg=body,
// digestmod=hashlib.sha256).hexdigest()) and RFC 4231.
func TestSign(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		secret string
		body   []byte
		want   string
	}{
		{
			name:   "RFC4231Case2",
			secret: "Jefe",
			body:   []byte("what do ya want for nothing?"),
			want:   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		},
		{
			name:   "QuickBrownFox",
			secret: "key",
			body:   []byte("The quick brown fox jumps over the lazy dog"),
			want:   "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
		},
		{
			name:   "Empty",
			secret: "",
			body:   nil,
			want:   "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
		},
		{
			name:   "UTF8SecretAndBody",
			secret: "sécret",
			body:   []byte(`{"message":"<b>&</b> é"}`),
			want:   "cb8d4d75ffa65e80c06fc0bac5e19dc9c55bf884039e862a39efdd1d5aa15869",
		},
		{
			name:   "EventCreatedFixture",
			secret: "your_webhook_secret_here",
			body:   readFixture(t, "event.created.json"),
			want:   "ee0652e129018a181df4e82856a4eb131bfcbf52f318413b0aff99f399206c25",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := webhook.Sign(tt.secret, tt.body); got != tt.want {
				t.Errorf("Sign = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestSignMatchesFlask checks Sign against the seed's receiver algorithm
// computed independently: lowercase hex of HMAC-SHA256 keyed with the UTF-8
// bytes of the secret over the exact body.
func TestSignMatchesFlask(t *testing.T) {
	t.Parallel()
	hexSig := regexp.MustCompile(`^[0-9a-f]{64}$`)
	body := readFixture(t, "event.alert.json")
	tests := []struct {
		name   string
		secret string
		body   []byte
	}{
		{"HookSecret", "4f2a9b0c7d1e3f5a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c", body},
		{"SeedPlaceholder", "your_webhook_secret_here", body},
		{"NonASCIISecret", "pässwörd✓", body},
		{"BinaryBody", "s", []byte{0, 1, 2, 0xff, '\n'}},
		{"LongSecret", string(make([]byte, 200)), body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mac := hmac.New(sha256.New, []byte(tt.secret))
			mac.Write(tt.body)
			want := hex.EncodeToString(mac.Sum(nil))

			got := webhook.Sign(tt.secret, tt.body)
			if got != want {
				t.Errorf("Sign = %s, want %s", got, want)
			}
			if !hexSig.MatchString(got) {
				t.Errorf("Sign = %q, want 64 lowercase hex characters", got)
			}
		})
	}
}

func ExampleSign() {
	body := []byte(`{"id":"1170","project":"web"}`)
	fmt.Println(webhook.Sign("your_webhook_secret_here", body))
	// Output: dea0b4d4b15878412850df4bda6639ee059e2a16fa175218b1d081ffb01c64be
}

func BenchmarkSign(b *testing.B) {
	body := readFixture(b, "event.created.json")
	secret := "4f2a9b0c7d1e3f5a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c"
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		webhook.Sign(secret, body)
	}
}
