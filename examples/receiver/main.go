// Command receiver is a minimal Service Hook receiver: it verifies each
// delivery's X-Sentry-Hook-Signature exactly as Sentry's documentation
// describes (hex HMAC-SHA256 of the raw body, keyed with the hook secret,
// compared in constant time), prints the payload and answers 200 at once.
//
//	go run ./examples/receiver --secret <hook secret> --addr 127.0.0.1:9000
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "address to listen on")
	secret := flag.String("secret", os.Getenv("HOOK_SECRET"), "the hook's secret (or $HOOK_SECRET)")
	flag.Parse()
	http.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		signature := r.Header.Get("X-Sentry-Hook-Signature")
		if signature == "" {
			signature = r.Header.Get("Sentry-Hook-Signature")
		}
		mac := hmac.New(sha256.New, []byte(*secret))
		mac.Write(body)
		expected := hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(expected), []byte(signature)) {
			log.Printf("rejected a delivery with a bad signature (Request-ID %s)", r.Header.Get("Request-ID"))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, body, "", "  "); err != nil {
			pretty.Write(body)
		}
		fmt.Printf("verified delivery %s (%s%s)\n%s\n", r.Header.Get("Request-ID"),
			r.Header.Get("Sentry-Hook-Resource"), r.Header.Get("X-ServiceHook-GUID"), pretty.String())
		w.WriteHeader(http.StatusOK)
	})
	log.Printf("listening on http://%s", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
