package service_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
	"github.com/herald-dev/herald/internal/webhook"
)

// unhandledData is the stored data of an event whose exception was not
// handled.
const unhandledData = `{"exception":{"values":[{"type":"TypeError","value":"x","mechanism":{"type":"onerror","handled":false}}]}}`

// handledData is the stored data of an event whose exception was handled.
const handledData = `{"exception":{"values":[{"type":"TypeError","value":"x","mechanism":{"type":"generic","handled":true}}]}}`

// issueBody is the part of an issue.* delivery the tests read.
type issueBody struct {
	Data struct {
		ResolutionType string `json:"resolution_type"`
		Issue          struct {
			Status        string          `json:"status"`
			StatusDetails json.RawMessage `json:"statusDetails"`
			IsUnhandled   bool            `json:"isUnhandled"`
		} `json:"issue"`
	} `json:"data"`
}

// testResolutions: a resolution is stored with the resolved status, read
// back by every read of the issue, and cleared by any other status (a
// regression included); an issue is unhandled as its latest event was.
func testResolutions(t *testing.T, open storetest.Opener) {
	ctx := context.Background()
	f := newFixture(t, open)
	f.Clock.SetStep(time.Millisecond)
	s := f.Store
	inst := f.Install(t, f.App(t, "issues", false, "issue"))
	jane := herald.Actor{User: f.User}
	str := func(s string) *string { return &s }
	// save saves one event of hash, at the clock's time plus at, with data.
	save := func(t *testing.T, hash string, at time.Duration, data string) *herald.Event {
		t.Helper()
		e := f.Event(hash)
		e.Timestamp, e.Data = e.Timestamp.Add(at), []byte(data)
		must(t, f.Changes.SaveEvents(ctx, []*herald.Event{e}))
		return e
	}
	update := func(t *testing.T, id int64, upd herald.IssueUpdate) *herald.Issue {
		t.Helper()
		out, err := f.Changes.UpdateIssues(ctx, herald.IssueSelection{ProjectID: f.Project.ID, IDs: []int64{id}}, upd, jane)
		must(t, err)
		if len(out) != 1 {
			t.Fatalf("updated %d issues", len(out))
		}
		return out[0]
	}
	// stored returns the issue as FindIssue and SearchIssues read it,
	// failing when they differ in what the test checks.
	stored := func(t *testing.T, id int64) *herald.Issue {
		t.Helper()
		found, err := s.FindIssue(ctx, f.Org.ID, strconvI(id))
		must(t, err)
		list, _, err := s.SearchIssues(ctx, herald.IssueSearch{ProjectID: f.Project.ID, Page: herald.Page{Limit: 100}})
		must(t, err)
		for _, is := range list {
			if is.ID == id && (!reflect.DeepEqual(is.Resolution, found.Resolution) || is.Unhandled != found.Unhandled || is.Status != found.Status) {
				t.Fatalf("SearchIssues %+v, FindIssue %+v", is, found)
			}
		}
		return found
	}
	// sent returns the deliveries to inst since before, parsed.
	sent := func(t *testing.T, before int) (events []string, bodies []issueBody) {
		t.Helper()
		ds := f.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
		for _, d := range ds[before:] {
			var b issueBody
			must(t, json.Unmarshal(d.Body, &b))
			events, bodies = append(events, d.Event), append(bodies, b)
		}
		return events, bodies
	}
	count := func() int { return len(f.DeliveriesTo(t, herald.DestinationApp, inst.UUID)) }

	t.Run("ResolveInReleaseStored", func(t *testing.T) {
		e := save(t, "in-release", 0, handledData)
		r := &herald.Resolution{Type: herald.ResolvedInRelease, Release: "1.2.3"}
		n := count()
		got := update(t, e.IssueID, herald.IssueUpdate{Status: str(herald.IssueResolved), Resolution: r})
		if !reflect.DeepEqual(got.Resolution, r) {
			t.Fatalf("returned resolution %+v, want %+v", got.Resolution, r)
		}
		if is := stored(t, e.IssueID); is.Status != herald.IssueResolved || !reflect.DeepEqual(is.Resolution, r) {
			t.Fatalf("stored status %s, resolution %+v; want resolved in 1.2.3", is.Status, is.Resolution)
		}
		events, bodies := sent(t, n)
		if len(events) != 1 || events[0] != webhook.IssueResolved || bodies[0].Data.ResolutionType != herald.ResolvedInRelease {
			t.Fatalf("deliveries %v %+v", events, bodies)
		}
	})
	t.Run("ResolveAgainOtherwise", func(t *testing.T) {
		e := save(t, "again", 0, handledData)
		update(t, e.IssueID, herald.IssueUpdate{Status: str(herald.IssueResolved), Resolution: &herald.Resolution{Type: herald.ResolvedInNextRelease}})
		n := count()
		steps := []*herald.Resolution{
			{Type: herald.ResolvedInCommit, Commit: "a1b2c3d4", Repository: "acme/web"},
			nil, // resolved now
		}
		for _, r := range steps {
			got := update(t, e.IssueID, herald.IssueUpdate{Status: str(herald.IssueResolved), Resolution: r})
			if !reflect.DeepEqual(got.Resolution, r) {
				t.Fatalf("returned resolution %+v, want %+v", got.Resolution, r)
			}
			if is := stored(t, e.IssueID); !reflect.DeepEqual(is.Resolution, r) {
				t.Fatalf("stored resolution %+v, want %+v", is.Resolution, r)
			}
		}
		// The status did not change: no issue.resolved again.
		if events, _ := sent(t, n); len(events) != 0 {
			t.Fatalf("deliveries %v", events)
		}
	})
	t.Run("OtherStatusClears", func(t *testing.T) {
		for _, status := range []string{herald.IssueIgnored, herald.IssueUnresolved} {
			t.Run(status, func(t *testing.T) {
				e := save(t, "clears-"+status, 0, handledData)
				update(t, e.IssueID, herald.IssueUpdate{Status: str(herald.IssueResolved), Resolution: &herald.Resolution{Type: herald.ResolvedInNextRelease}})
				got := update(t, e.IssueID, herald.IssueUpdate{Status: str(status)})
				if got.Resolution != nil {
					t.Fatalf("returned resolution %+v", got.Resolution)
				}
				// Resolved again (now): the earlier resolution is gone.
				update(t, e.IssueID, herald.IssueUpdate{Status: str(herald.IssueResolved)})
				if is := stored(t, e.IssueID); is.Status != herald.IssueResolved || is.Resolution != nil {
					t.Fatalf("stored status %s, resolution %+v", is.Status, is.Resolution)
				}
			})
		}
	})
	t.Run("RegressionClears", func(t *testing.T) {
		e := save(t, "regresses", 0, handledData)
		update(t, e.IssueID, herald.IssueUpdate{Status: str(herald.IssueResolved), Resolution: &herald.Resolution{Type: herald.ResolvedInRelease, Release: "1.2.3"}})
		n := count()
		// Herald has no release order: any new event regresses the issue,
		// whatever its release.
		again := f.Event("regresses")
		again.Release = "1.2.4"
		must(t, f.Changes.SaveEvents(ctx, []*herald.Event{again}))
		is := stored(t, e.IssueID)
		if is.Status != herald.IssueUnresolved || is.Substatus != herald.SubstatusRegressed || is.Resolution != nil {
			t.Fatalf("stored %s/%s, resolution %+v", is.Status, is.Substatus, is.Resolution)
		}
		events, bodies := sent(t, n)
		if len(events) != 1 || events[0] != webhook.IssueUnresolved || string(bodies[0].Data.Issue.StatusDetails) != "{}" {
			t.Fatalf("deliveries %v %+v", events, bodies)
		}
	})
	t.Run("Unhandled", func(t *testing.T) {
		// Each step saves one event of the issue; the issue is unhandled
		// as its latest event (by timestamp) was, as in Sentry.
		steps := []struct {
			name    string
			at      time.Duration
			data    string
			want    bool
			webhook string
		}{
			{"FirstUnhandled", 0, unhandledData, true, webhook.IssueCreated},
			{"LaterHandled", time.Hour, handledData, false, ""},
			{"EarlierUnhandledIgnored", time.Minute, unhandledData, false, ""},
			{"LaterUnhandled", 2 * time.Hour, unhandledData, true, ""},
			{"MessageIsHandled", 3 * time.Hour, `{"message":"x"}`, false, ""},
		}
		var id int64
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				n := count()
				e := save(t, "unhandled", st.at, st.data)
				id = e.IssueID
				if is := stored(t, id); is.Unhandled != st.want {
					t.Fatalf("stored unhandled %v, want %v", is.Unhandled, st.want)
				}
				events, bodies := sent(t, n)
				if st.webhook == "" {
					if len(events) != 0 {
						t.Fatalf("deliveries %v", events)
					}
					return
				}
				if len(events) != 1 || events[0] != st.webhook || bodies[0].Data.Issue.IsUnhandled != st.want {
					t.Fatalf("deliveries %v %+v", events, bodies)
				}
			})
		}
		t.Run("RegressionSendsIt", func(t *testing.T) {
			update(t, id, herald.IssueUpdate{Status: str(herald.IssueResolved)})
			n := count()
			save(t, "unhandled", 4*time.Hour, unhandledData)
			events, bodies := sent(t, n)
			if len(events) != 1 || events[0] != webhook.IssueUnresolved || !bodies[0].Data.Issue.IsUnhandled {
				t.Fatalf("deliveries %v %+v", events, bodies)
			}
		})
		t.Run("ResolvedAnswerKeepsIt", func(t *testing.T) {
			got := update(t, id, herald.IssueUpdate{Status: str(herald.IssueResolved)})
			if !got.Unhandled {
				t.Fatal("the resolved issue returned is not unhandled")
			}
		})
	})
	t.Run("UnhandledBatch", func(t *testing.T) {
		// One batch opens the issue: the latest of its events decides,
		// not the first.
		tests := []struct {
			name   string
			events [2]string
			want   bool
		}{
			{"FirstUnhandledLatestHandled", [2]string{unhandledData, handledData}, false},
			{"FirstHandledLatestUnhandled", [2]string{handledData, unhandledData}, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				n := count()
				a, b := f.Event("batch-"+tt.name), f.Event("batch-"+tt.name)
				a.Data, b.Data = []byte(tt.events[0]), []byte(tt.events[1])
				b.Timestamp = a.Timestamp.Add(time.Second)
				must(t, f.Changes.SaveEvents(ctx, []*herald.Event{a, b}))
				if is := stored(t, a.IssueID); is.Unhandled != tt.want {
					t.Fatalf("stored unhandled %v, want %v", is.Unhandled, tt.want)
				}
				events, bodies := sent(t, n)
				if len(events) != 1 || events[0] != webhook.IssueCreated || bodies[0].Data.Issue.IsUnhandled != tt.want {
					t.Fatalf("deliveries %v %+v", events, bodies)
				}
			})
		}
	})
}
