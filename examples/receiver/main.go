// Command receiver is a minimal webhook receiver built on the sentryhook
// package: it verifies each delivery's signature (Service Hook or Sentry
// App) in constant time, answers at once, drops duplicates, and prints each
// delivery from a background worker.
//
//	go run ./examples/receiver --secret <hook secret> --addr 127.0.0.1:9000
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/herald-dev/herald/sentryhook"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "address to listen on")
	secret := flag.String("secret", os.Getenv("HOOK_SECRET"), "the hook's or app's secret; several, comma-separated, while rotating (or $HOOK_SECRET)")
	flag.Parse()
	if *secret == "" {
		log.Fatal("--secret is required")
	}

	h, err := sentryhook.NewHandler(sentryhook.HandlerOptions{
		Secrets: strings.Split(*secret, ","),
		Process: process,
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
		if err := h.Shutdown(shutdown); err != nil {
			log.Print(err)
		}
	}()
	log.Printf("listening on http://%s", *addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-stopped
}

// process prints a verified delivery. A real receiver would do its work
// here: the sender already has its 202.
func process(_ context.Context, d *sentryhook.Delivery) error {
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, d.Body, "", "  "); err != nil {
		pretty.Write(d.Body)
	}
	id := d.HookID
	if d.Kind == sentryhook.KindSentryApp {
		id = d.Installation.UUID
	}
	fmt.Printf("verified delivery %s (%s, %s)\n%s\n", d.RequestID, d.Event(), id, pretty.String())
	return nil
}
