package sentryhook_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/herald-dev/herald/sentryhook"
	"github.com/herald-dev/herald/sentryhook/sentryhooktest"
)

// A receiver serves a Handler and processes deliveries in Process, after
// the sender has had its answer.
func ExampleNewHandler() {
	processed := make(chan string, 10)
	h, err := sentryhook.NewHandler(sentryhook.HandlerOptions{
		// The hook's or the app's secret; list the old one too while
		// rotating.
		Secrets: []string{"my-secret"},
		Process: func(ctx context.Context, d *sentryhook.Delivery) error {
			switch p := d.Payload.(type) {
			case *sentryhook.ServiceHookPayload:
				processed <- d.Event() + " " + p.Event.EventID
			case *sentryhook.IssuePayload:
				processed <- d.Event() + " " + p.Issue.ShortID + " " + p.Issue.Title
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(h) // in production: http.Server{Handler: h}
	defer srv.Close()

	body := sentryhooktest.MustPayload("issue.created")
	req := sentryhooktest.NewRequest(srv.URL, "issue.created", "my-secret", body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)

	// On the way out: stop the server, then let the queue drain.
	srv.Close()
	if err := h.Shutdown(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-processed)
	// Output:
	// 202 Accepted
	// issue.created WEB-1 TypeError: Cannot read properties of undefined (reading 'id')
}

// Without a Handler: read the body, verify it, then parse it.
func ExampleParse() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sentry-hook", func(w http.ResponseWriter, r *http.Request) {
		body, err := sentryhook.ReadBody(r, 0)
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := sentryhook.VerifyHeader(r.Header, body, "my-secret"); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		d, err := sentryhook.Parse(r.Header, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Println(d.Kind, d.Event(), d.Actor.Name)
		w.WriteHeader(http.StatusOK)
	})

	body := sentryhooktest.MustPayload("comment.created")
	req := sentryhooktest.NewRequest("http://127.0.0.1/sentry-hook", "comment.created", "my-secret", body)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	fmt.Println(w.Code)
	// Output:
	// sentry_app comment.created Jane Doe
	// 200
}

// Verification fails with a sentinel error that says what is wrong and
// never shows a signature.
func ExampleVerifyHeader() {
	body := []byte(`{"id":"abc123"}`)
	req := httptest.NewRequest("POST", "/sentry-hook", nil)
	sentryhook.SignRequest(req, "my-secret", body)

	fmt.Println(sentryhook.VerifyHeader(req.Header, body, "my-secret"))
	fmt.Println(sentryhook.VerifyHeader(req.Header, body, "new-secret", "my-secret"))
	fmt.Println(sentryhook.VerifyHeader(req.Header, body, "another-secret"))
	fmt.Println(sentryhook.VerifyHeader(http.Header{}, body, "my-secret"))
	// Output:
	// <nil>
	// <nil>
	// sentryhook: signature mismatch
	// sentryhook: missing signature
}

// The seed's Flask snippet computes the same value.
func ExampleSign() {
	fmt.Println(sentryhook.Sign("my-secret", []byte(`{"id":"abc123"}`)))
	// Output:
	// c9080ab54890bfca50e20a6a04e2d566992813fbfa30019443c88dc75023bdd6
}

// Service Hooks name the event by triggering_rules; DedupeKey prefers the
// Request-ID and falls back on the seed's idempotency key, the event id.
func ExampleDelivery_DedupeKey() {
	body := []byte(`{"id":"1170","triggering_rules":["New production errors"],"event":{"event_id":"9fac2ceed9344f2bbfdd1fdacb0ed9b1"}}`)
	d, err := sentryhook.Parse(nil, body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Event())
	fmt.Println(d.DedupeKey())
	// Output:
	// event.alert
	// event:9fac2ceed9344f2bbfdd1fdacb0ed9b1:event.alert
}

func ExampleMemoryDeduper() {
	dedupe := sentryhook.NewMemoryDeduper(sentryhook.MemoryDeduperOptions{})
	ctx := context.Background()
	for _, key := range []string{"request:1", "request:2", "request:1"} {
		seen, _ := dedupe.Seen(ctx, key)
		fmt.Println(key, seen)
	}
	// Output:
	// request:1 false
	// request:2 false
	// request:1 true
}
