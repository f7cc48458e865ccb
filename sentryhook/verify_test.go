package sentryhook_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/herald-dev/herald/sentryhook"
)

const (
	// secret is the seed's example hook secret.
	secret = "8fcac28aaa4c4f5fa572b61d40a8e084364db25fd37449c299e5a41c0504cbc2"
	// seedBody and seedSignature are a body and its signature under secret
	// as Python's hmac.new(secret, body, hashlib.sha256).hexdigest() gives
	// it, the seed's algorithm.
	seedBody      = `{"id":"abc123","project":"my-project"}`
	seedSignature = "b1c76817cf93e8348e8916ad3b70eef9594cb51aa44d9441ade53b2e43f4b8c1"
)

func TestSignMatchesSeedAlgorithm(t *testing.T) {
	t.Parallel()
	if got := sentryhook.Sign(secret, []byte(seedBody)); got != seedSignature {
		t.Fatalf("Sign = %s, want %s", got, seedSignature)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(seedBody)
	tests := []struct {
		name      string
		body      []byte
		signature string
		secrets   []string
		want      error
	}{
		{name: "OK", body: body, signature: seedSignature, secrets: []string{secret}},
		{name: "UpperCase", body: body, signature: strings.ToUpper(seedSignature), secrets: []string{secret}},
		{name: "RotatedOldSecret", body: body, signature: seedSignature, secrets: []string{"new-secret", secret}},
		{name: "RotatedNewSecret", body: body, signature: sentryhook.Sign("new-secret", body), secrets: []string{"new-secret", secret}},
		{name: "EmptyBody", body: nil, signature: sentryhook.Sign(secret, nil), secrets: []string{secret}},
		{name: "ErrNoSecret", body: body, signature: seedSignature, want: sentryhook.ErrNoSecret},
		{name: "ErrNoSecretEmpty", body: body, signature: sentryhook.Sign("", body), secrets: []string{""}, want: sentryhook.ErrNoSecret},
		{name: "ErrNoSecretOneEmpty", body: body, signature: seedSignature, secrets: []string{secret, ""}, want: sentryhook.ErrNoSecret},
		{name: "ErrMissingSignature", body: body, secrets: []string{secret}, want: sentryhook.ErrMissingSignature},
		{name: "ErrMalformedSignatureShort", body: body, signature: seedSignature[:63], secrets: []string{secret}, want: sentryhook.ErrMalformedSignature},
		{name: "ErrMalformedSignatureLong", body: body, signature: seedSignature + "00", secrets: []string{secret}, want: sentryhook.ErrMalformedSignature},
		{name: "ErrMalformedSignatureNotHex", body: body, signature: "zz" + seedSignature[2:], secrets: []string{secret}, want: sentryhook.ErrMalformedSignature},
		{name: "ErrMalformedSignaturePrefixed", body: body, signature: "sha256=" + seedSignature[7:], secrets: []string{secret}, want: sentryhook.ErrMalformedSignature},
		{name: "ErrSignatureMismatchSecret", body: body, signature: seedSignature, secrets: []string{"another"}, want: sentryhook.ErrSignatureMismatch},
		{name: "ErrSignatureMismatchBody", body: []byte(seedBody + " "), signature: seedSignature, secrets: []string{secret}, want: sentryhook.ErrSignatureMismatch},
		{name: "ErrSignatureMismatchFlippedBit", body: body, signature: "0" + seedSignature[1:], secrets: []string{secret}, want: sentryhook.ErrSignatureMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := sentryhook.Verify(tt.body, tt.signature, tt.secrets...)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestErrorsEchoNothing: no verification error carries the secret, the
// signature sent or the signature computed.
func TestErrorsEchoNothing(t *testing.T) {
	t.Parallel()
	body := []byte(seedBody)
	computed := sentryhook.Sign(secret, body)
	sent := sentryhook.Sign("attacker", body)
	h := http.Header{}
	h.Set(sentryhook.HeaderServiceHookSignature, sent)
	h.Set(sentryhook.HeaderSentryHookSignature, computed)
	errs := []error{
		sentryhook.Verify(body, sent, secret),
		sentryhook.Verify(body, sent[:10], secret),
		sentryhook.VerifyHeader(h, body, secret),
	}
	h.Del(sentryhook.HeaderSentryHookSignature)
	errs = append(errs, sentryhook.VerifyHeader(h, body, secret))
	for _, err := range errs {
		if err == nil {
			t.Fatal("verification passed")
		}
		for _, s := range []string{secret, computed, sent, sent[:10]} {
			if strings.Contains(err.Error(), s) {
				t.Fatalf("error %q echoes %q", err, s)
			}
		}
	}
}

func TestSignature(t *testing.T) {
	t.Parallel()
	const a, b = "aaaa", "bbbb"
	tests := []struct {
		name       string
		header     map[string]string
		wantSig    string
		wantHeader string
		wantErr    error
	}{
		{name: "SentryApp", header: map[string]string{"Sentry-Hook-Signature": a}, wantSig: a, wantHeader: sentryhook.HeaderSignature},
		{name: "SentryAppWins", header: map[string]string{"Sentry-Hook-Signature": a, "X-ServiceHook-Signature": b}, wantSig: a, wantHeader: sentryhook.HeaderSignature},
		{name: "ServiceHookSentryName", header: map[string]string{"X-ServiceHook-Signature": a}, wantSig: a, wantHeader: sentryhook.HeaderServiceHookSignature},
		{name: "ServiceHookSeedName", header: map[string]string{"X-Sentry-Hook-Signature": a}, wantSig: a, wantHeader: sentryhook.HeaderSentryHookSignature},
		{name: "ServiceHookBoth", header: map[string]string{"X-ServiceHook-Signature": a, "X-Sentry-Hook-Signature": a}, wantSig: a, wantHeader: sentryhook.HeaderServiceHookSignature},
		{name: "ErrMalformedSignatureDisagree", header: map[string]string{"X-ServiceHook-Signature": a, "X-Sentry-Hook-Signature": b}, wantErr: sentryhook.ErrMalformedSignature},
		{name: "ErrMissingSignature", header: map[string]string{"Request-ID": a}, wantErr: sentryhook.ErrMissingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			sig, name, err := sentryhook.Signature(h)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if sig != tt.wantSig || name != tt.wantHeader {
				t.Fatalf("Signature = %q from %q, want %q from %q", sig, name, tt.wantSig, tt.wantHeader)
			}
		})
	}
}

func TestVerifyHeader(t *testing.T) {
	t.Parallel()
	body := []byte(seedBody)
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		req := httptest.NewRequest("POST", "/", nil)
		sentryhook.SignRequest(req, secret, body)
		if err := sentryhook.VerifyHeader(req.Header, body, secret); err != nil {
			t.Fatal(err)
		}
		if req.Header.Get(sentryhook.HeaderSentryHookSignature) != seedSignature || req.Header.Get(sentryhook.HeaderServiceHookSignature) != seedSignature {
			t.Fatalf("headers = %v", req.Header)
		}
	})
	t.Run("SentryApp", func(t *testing.T) {
		t.Parallel()
		req := httptest.NewRequest("POST", "/", nil)
		req.Header.Set(sentryhook.HeaderResource, "issue")
		sentryhook.SignRequest(req, secret, body)
		if req.Header.Get(sentryhook.HeaderSignature) != seedSignature || req.Header.Get(sentryhook.HeaderServiceHookSignature) != "" {
			t.Fatalf("headers = %v", req.Header)
		}
		got, _ := io.ReadAll(req.Body)
		if string(got) != seedBody || req.ContentLength != int64(len(body)) {
			t.Fatalf("body = %q (%d)", got, req.ContentLength)
		}
	})
	t.Run("ErrNoSecretBeforeMissingSignature", func(t *testing.T) {
		t.Parallel()
		if err := sentryhook.VerifyHeader(http.Header{}, body); !errors.Is(err, sentryhook.ErrNoSecret) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrMissingSignature", func(t *testing.T) {
		t.Parallel()
		if err := sentryhook.VerifyHeader(http.Header{}, body, secret); !errors.Is(err, sentryhook.ErrMissingSignature) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		chunked bool
		max     int64
		wantErr error
	}{
		{name: "OK", body: "hello", max: 5},
		{name: "Chunked", body: "hello", max: 5, chunked: true},
		{name: "Default", body: strings.Repeat("x", 1000), max: 0},
		{name: "ErrBodyTooLarge", body: "hello!", max: 5, wantErr: sentryhook.ErrBodyTooLarge},
		{name: "ErrBodyTooLargeChunked", body: "hello!", max: 5, chunked: true, wantErr: sentryhook.ErrBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.chunked {
				req.ContentLength = -1
			}
			got, err := sentryhook.ReadBody(req, tt.max)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && string(got) != tt.body {
				t.Fatalf("body = %q", got)
			}
		})
	}
}
