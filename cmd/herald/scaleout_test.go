package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
)

// TestScaleOut runs three nodes on one PostgreSQL database, sends events to
// all of them, kills one mid-load (SIGKILL, never restarted), and checks that
// every accepted event is delivered, and that the only deliveries received
// twice are ones that were in flight when the node died.
func TestScaleOut(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs three server processes")
	}
	dbURL := storetest.PostgresSchemaURL(t)
	common := []string{"--database-url", dbURL, "--allow-destination", "127.0.0.0/8", "--bootstrap-token", testToken,
		"--retry-schedule", "1s,1s,1s,1s,1s", "--delivery-timeout", "1s", "--rescue-after", "4s", "--log-level", "warn"}
	var nodes []*Server
	var cmds = map[int]func(){}
	for i := 0; i < 3; i++ {
		addr := freeAddr(t)
		cmd := startProcess(t, addr, append([]string{"--node-id", fmt.Sprintf("node-%d", i)}, common...)...)
		cmds[i] = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
		nodes = append(nodes, &Server{URL: "http://" + addr})
	}
	p := setUp(t, nodes[0])

	var (
		mu        sync.Mutex
		seen      = map[string]int{}       // Request-ID → times received
		firstSeen = map[string]time.Time{} // Request-ID → first arrival
		events    = map[string]bool{}      // event ids delivered
	)
	// A slow receiver keeps deliveries in flight, so the killed node dies
	// holding some: other nodes must take them over.
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.WriteHeader(200)
	})
	h := createHook(t, nodes[0], rc.URL, "event.created")
	rc.setSecret(h.Secret)
	collect := func() {
		rc.mu.Lock()
		got := append([]received(nil), rc.got...)
		rc.mu.Unlock()
		mu.Lock()
		defer mu.Unlock()
		clear(seen)
		for _, g := range got {
			id := g.Header.Get("Request-ID")
			seen[id]++
			if at, ok := firstSeen[id]; !ok || g.At.Before(at) {
				firstSeen[id] = g.At
			}
			var body serviceHookBody
			if err := json.Unmarshal(g.Body, &body); err == nil && g.Verified {
				events[body.Event.EventID] = true
			}
		}
	}

	const total, workers = 300, 6
	var accepted sync.Map
	var killedAt time.Time
	var killOnce sync.Once
	var heldAtKill int
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if i == total/2 {
					killOnce.Do(func() {
						cmds[2]() // SIGKILL, and wait for the process to be gone
						killedAt = time.Now()
						heldAtKill = claimedBy(t, dbURL, "node-2")
					})
				}
				id := herald.NewID()
				node := nodes[i%3]
				if status := storeEventQuiet(node, p, id, fmt.Sprintf("scale %d", i)); status == 200 {
					accepted.Store(id, true)
				}
			}
		}()
	}
	for i := 0; i < total; i++ {
		work <- i
	}
	close(work)
	wg.Wait()

	var want []string
	accepted.Range(func(k, _ any) bool { want = append(want, k.(string)); return true })
	if len(want) < total/2 {
		t.Fatalf("only %d of %d events accepted", len(want), total)
	}
	// Deliveries the killed node held are claimed by the others once its
	// claims lapse, --rescue-after after it claimed them.
	deadline := time.Now().Add(60 * time.Second)
	for {
		collect()
		mu.Lock()
		missing := 0
		for _, id := range want {
			if !events[id] {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted events not delivered after a node was killed", missing, len(want))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if heldAtKill == 0 {
		t.Fatal("the killed node held no deliveries: the test did not exercise taking them over")
	}
	// What the killed node held was received or not; either way another
	// node must take it over and record it delivered.
	for left := claimedBy(t, dbURL, "node-2"); left != 0; left = claimedBy(t, dbURL, "node-2") {
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still claimed by the killed node", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for undelivered := countRows(t, dbURL, `SELECT COUNT(*) FROM deliveries WHERE status <> 'delivered'`); undelivered != 0; undelivered = countRows(t, dbURL, `SELECT COUNT(*) FROM deliveries WHERE status <> 'delivered'`) {
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries not recorded delivered", undelivered)
		}
		time.Sleep(200 * time.Millisecond)
	}
	collect()
	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for id, n := range seen {
		if n > 1 {
			dups++
			if firstSeen[id].After(killedAt) {
				t.Errorf("delivery %s first received after the kill was sent %d times", id, n)
			}
		}
	}
	t.Logf("%d events accepted by 3 nodes (one killed mid-load), all delivered; the killed node held %d deliveries; %d deliveries received twice (in flight at the kill)",
		len(want), heldAtKill, dups)
}

// claimedBy counts the pending deliveries node holds.
func claimedBy(t *testing.T, dbURL, node string) int {
	return countRows(t, dbURL, `SELECT COUNT(*) FROM deliveries WHERE status = 'pending' AND claimed_by = $1`, node)
}

// countRows runs a COUNT query on the database of dbURL.
func countRows(t *testing.T, dbURL, q string, args ...any) int {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// storeEventQuiet is storeEvent without failing the test on a connection
// error (the node may have been killed): it returns 0 then.
func storeEventQuiet(srv *Server, p project, eventID, message string) int {
	key := strings.TrimPrefix(strings.SplitN(p.DSN, "@", 2)[0], "http://")
	body := fmt.Sprintf(`{"event_id":%q,"message":%q,"level":"error","platform":"go"}`, eventID, message)
	req, _ := http.NewRequest("POST", srv.URL+"/api/"+p.ID+"/store/", strings.NewReader(body))
	req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_key="+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
