package storetest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/sqlstore"
)

// InTx runs fn in a transaction of the fixture's store, failing the test
// on an error.
func (f *Fixture) InTx(t testing.TB, fn func(ctx context.Context, tx *sqlstore.Tx) error) {
	t.Helper()
	ctx := context.Background()
	must(t, f.Store.InTx(ctx, func(tx *sqlstore.Tx) error { return fn(ctx, tx) }))
}

// Issue creates an issue of the fixture's project with hash, as ingest
// would for its first event, and stores that event.
func (f *Fixture) Issue(t testing.TB, hash string) (*herald.Issue, *herald.Event) {
	t.Helper()
	e := f.Event(hash)
	var is *herald.Issue
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
		var err error
		is, _, err = upsertIssue(ctx, tx, newIssue(f, e))
		if err != nil {
			return err
		}
		e.IssueID = is.ID
		return tx.InsertEvents(ctx, []*herald.Event{e})
	})
	return is, e
}

// Issues creates n issues of project projectID, of one event each, grouped
// by hashes prefix-0 to prefix-(n-1), in one batch.
func (f *Fixture) Issues(t testing.TB, projectID int64, prefix string, n int) ([]*herald.Issue, []*herald.Event) {
	t.Helper()
	news, events := make([]*herald.Issue, n), make([]*herald.Event, n)
	for i := range news {
		events[i] = f.Event(fmt.Sprintf("%s-%d", prefix, i))
		events[i].ProjectID = projectID
		news[i] = newIssue(f, events[i])
		news[i].ProjectID = projectID
	}
	var issues []*herald.Issue
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
		var err error
		if issues, _, err = tx.UpsertIssues(ctx, projectID, strings.ToUpper(prefix), news); err != nil {
			return err
		}
		for i, e := range events {
			e.IssueID = issues[i].ID
		}
		return tx.InsertEvents(ctx, events)
	})
	return issues, events
}

// Storm stores n more events of issue, in one batch, and returns them.
func (f *Fixture) Storm(t testing.TB, issue *herald.Issue, n int) []*herald.Event {
	t.Helper()
	events := make([]*herald.Event, n)
	for i := range events {
		events[i] = f.Event(issue.Hash)
		events[i].ProjectID, events[i].IssueID = issue.ProjectID, issue.ID
	}
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error { return tx.InsertEvents(ctx, events) })
	return events
}

// Count runs a SELECT COUNT(*) query, formatted with args as by
// fmt.Sprintf, and returns the count.
func (f *Fixture) Count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	must(t, f.Store.SQL().QueryRowContext(context.Background(), fmt.Sprintf(query, args...)).Scan(&n))
	return n
}

// upsertIssue finds or creates the issue n, alone in its batch.
func upsertIssue(ctx context.Context, tx *sqlstore.Tx, n *herald.Issue) (*herald.Issue, bool, error) {
	issues, created, err := tx.UpsertIssues(ctx, n.ProjectID, "WEB", []*herald.Issue{n})
	if err != nil {
		return nil, false, err
	}
	return issues[0], created[0], nil
}

// newIssue is the issue an event of f's project opens.
func newIssue(f *Fixture, e *herald.Event) *herald.Issue {
	return &herald.Issue{ProjectID: f.Project.ID, Hash: e.GroupHash, Title: e.Title, Culprit: e.Culprit, Level: e.Level,
		Status: herald.IssueUnresolved, Substatus: herald.SubstatusNew, Type: e.Type, Value: e.Value, Platform: e.Platform,
		FirstSeen: e.Timestamp, LastSeen: e.Timestamp, Count: 1}
}

// testIngest checks the primitives ingest composes: issues found or
// created (once, whoever races), events, counts and users.
func testIngest(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store

	t.Run("HeldWrites", func(t *testing.T) {
		// Writes held for the end of the transaction (one statement on
		// PostgreSQL) land when it commits; one that fails fails the
		// transaction, and nothing of it is kept.
		is, _ := f.Issue(t, "held")
		e1, e2 := f.Event("held"), f.Event("held")
		e1.IssueID, e2.IssueID = is.ID, is.ID
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			tx.Hold()
			if err := tx.InsertEvents(ctx, []*herald.Event{e1, e2}); err != nil {
				return err
			}
			return tx.CountIssues(ctx, []sqlstore.IssueCount{{IssueID: is.ID, Events: 2, LastSeen: f.Clock.Now()}})
		})
		for _, e := range []*herald.Event{e1, e2} {
			_, err := s.FindEventByID(ctx, f.Project.ID, e.ID)
			must(t, err)
		}
		got, err := s.FindIssueByID(ctx, is.ID)
		must(t, err)
		if got.Count != is.Count+2 {
			t.Fatalf("issue count = %d after a held count of 2, want %d", got.Count, is.Count+2)
		}

		e3, orphan := f.Event("held"), f.Event("held")
		e3.IssueID, orphan.IssueID = is.ID, is.ID
		orphan.ProjectID = f.Project.ID + 1_000_000 // no such project
		err = s.InTx(ctx, func(tx *sqlstore.Tx) error {
			tx.Hold()
			if err := tx.InsertEvents(ctx, []*herald.Event{e3}); err != nil {
				return err
			}
			if err := tx.CountIssues(ctx, []sqlstore.IssueCount{{IssueID: is.ID, Events: 1, LastSeen: f.Clock.Now()}}); err != nil {
				return err
			}
			return tx.InsertEvents(ctx, []*herald.Event{orphan})
		})
		if err == nil {
			t.Fatal("a transaction with an event of no project committed")
		}
		_, err = s.FindEventByID(ctx, f.Project.ID, e3.ID)
		wantCode(t, err, herald.ENOTFOUND)
		if got, err = s.FindIssueByID(ctx, is.ID); err != nil || got.Count != is.Count+2 {
			t.Fatalf("issue count = %d (%v) after a failed transaction, want %d", got.Count, err, is.Count+2)
		}
	})

	t.Run("UpsertIssue", func(t *testing.T) {
		a, b := f.Event("up-a"), f.Event("up-b")
		var first, second, again *herald.Issue
		var created [3]bool
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			var err error
			if first, created[0], err = upsertIssue(ctx, tx, newIssue(f, a)); err != nil {
				return err
			}
			if second, created[1], err = upsertIssue(ctx, tx, newIssue(f, b)); err != nil {
				return err
			}
			again, created[2], err = upsertIssue(ctx, tx, newIssue(f, a))
			return err
		})
		if !created[0] || !created[1] || created[2] || again.ID != first.ID || first.ID == second.ID {
			t.Fatalf("created %v, ids %d %d %d", created, first.ID, second.ID, again.ID)
		}
		got, err := s.FindIssueByID(ctx, first.ID)
		must(t, err)
		if got.ShortID != first.ShortID || got.Count != 1 || got.Title != a.Title || got.Substatus != herald.SubstatusNew {
			t.Fatalf("stored %+v, created %+v", got, first)
		}
		if first.ShortID == second.ShortID {
			t.Fatalf("short ids %s and %s", first.ShortID, second.ShortID)
		}
	})
	t.Run("UpsertIssueRace", func(t *testing.T) {
		// Batches that open the same issue at once get one issue.
		e := f.Event("race")
		ids := make([]int64, 8)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				err := s.InTx(ctx, func(tx *sqlstore.Tx) error {
					is, _, err := upsertIssue(ctx, tx, newIssue(f, e))
					if err == nil {
						ids[i] = is.ID
					}
					return err
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] || id == 0 {
				t.Fatalf("issue ids = %v", ids)
			}
		}
	})
	t.Run("UpsertIssuesBatch", func(t *testing.T) {
		// One call finds the issues that exist and creates the others,
		// answering in the order asked, with consecutive short ids.
		old, _ := f.Issue(t, "batch-b")
		news := []*herald.Issue{newIssue(f, f.Event("batch-a")), newIssue(f, f.Event("batch-b")), newIssue(f, f.Event("batch-c"))}
		var issues []*herald.Issue
		var created []bool
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			var err error
			issues, created, err = tx.UpsertIssues(ctx, f.Project.ID, "WEB", news)
			return err
		})
		if len(issues) != 3 || !slices.Equal(created, []bool{true, false, true}) {
			t.Fatalf("created = %v (%d issues)", created, len(issues))
		}
		if issues[1].ID != old.ID || issues[0].Hash != "batch-a" || issues[2].Hash != "batch-c" || issues[0].ID == issues[2].ID {
			t.Fatalf("issues = %+v %+v %+v, existing %d", issues[0], issues[1], issues[2], old.ID)
		}
		a, err := strconv.ParseInt(strings.TrimPrefix(issues[0].ShortID, "WEB-"), 36, 64)
		must(t, err)
		c, err := strconv.ParseInt(strings.TrimPrefix(issues[2].ShortID, "WEB-"), 36, 64)
		must(t, err)
		if c != a+1 {
			t.Fatalf("short ids %s and %s are not consecutive", issues[0].ShortID, issues[2].ShortID)
		}
		for _, is := range []*herald.Issue{issues[0], issues[2]} {
			got, err := s.FindIssueByID(ctx, is.ID)
			must(t, err)
			if got.ShortID != is.ShortID || got.Hash != is.Hash || got.Count != 1 {
				t.Fatalf("stored %+v, created %+v", got, is)
			}
		}
	})
	t.Run("UpsertIssuesBatchRace", func(t *testing.T) {
		// Concurrent batches opening overlapping sets of issues each get
		// every issue once, and no short id is given twice.
		hashes := []string{"rb-1", "rb-2", "rb-3", "rb-4", "rb-5"}
		got := make([][]*herald.Issue, 6)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() {
				var news []*herald.Issue
				for j, h := range hashes {
					if (i+j)%3 != 0 {
						news = append(news, newIssue(f, f.Event(h)))
					}
				}
				err := s.InTx(ctx, func(tx *sqlstore.Tx) error {
					issues, _, err := tx.UpsertIssues(ctx, f.Project.ID, "WEB", news)
					got[i] = issues
					return err
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		ids, shortIDs := map[string]int64{}, map[string]string{}
		for _, issues := range got {
			for _, is := range issues {
				if id, ok := ids[is.Hash]; ok && id != is.ID {
					t.Fatalf("issue %s has ids %d and %d", is.Hash, id, is.ID)
				}
				if h, ok := shortIDs[is.ShortID]; ok && h != is.Hash {
					t.Fatalf("short id %s given to %s and %s", is.ShortID, h, is.Hash)
				}
				ids[is.Hash], shortIDs[is.ShortID] = is.ID, is.Hash
			}
		}
		if len(ids) != len(hashes) {
			t.Fatalf("issues = %v", ids)
		}
	})
	t.Run("CountIssuesBatch", func(t *testing.T) {
		// Enough issues at once for the set-based form: each gets its own
		// counts, and last_seen and unhandled only move forward.
		var issues []*herald.Issue
		var counts []sqlstore.IssueCount
		for i := range 4 {
			is, e := f.Issue(t, fmt.Sprintf("count-batch-%d", i))
			issues = append(issues, is)
			at := e.Timestamp.Add(time.Duration(i) * time.Hour) // issue 0 keeps its last_seen
			if i == 0 {
				at = e.Timestamp.Add(-time.Hour)
			}
			counts = append(counts, sqlstore.IssueCount{IssueID: is.ID, Events: i + 1, Users: i, LastSeen: at, Unhandled: true})
		}
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error { return tx.CountIssues(ctx, counts) })
		for i, is := range issues {
			got, err := s.FindIssueByID(ctx, is.ID)
			must(t, err)
			wantSeen := is.LastSeen
			if i > 0 {
				wantSeen = counts[i].LastSeen
			}
			if got.Count != is.Count+int64(i+1) || got.UserCount != is.UserCount+int64(i) || !got.LastSeen.Equal(wantSeen) || got.Unhandled != (i > 0) {
				t.Errorf("issue %d: count %d users %d last seen %v unhandled %v; want %d %d %v %v", i, got.Count, got.UserCount,
					got.LastSeen, got.Unhandled, is.Count+int64(i+1), is.UserCount+int64(i), wantSeen, i > 0)
			}
		}
	})
	t.Run("AddIssueUsersBatch", func(t *testing.T) {
		a, _ := f.Issue(t, "users-a")
		b, _ := f.Issue(t, "users-b")
		var added [2]map[int64]int
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			var err error
			if added[0], err = tx.AddIssueUsers(ctx, []sqlstore.IssueUser{{IssueID: a.ID, Key: "id:1"}, {IssueID: b.ID, Key: "id:1"},
				{IssueID: b.ID, Key: "id:2"}}); err != nil {
				return err
			}
			added[1], err = tx.AddIssueUsers(ctx, []sqlstore.IssueUser{{IssueID: a.ID, Key: "id:1"}, {IssueID: b.ID, Key: "id:3"}})
			return err
		})
		if added[0][a.ID] != 1 || added[0][b.ID] != 2 || added[1][a.ID] != 0 || added[1][b.ID] != 1 {
			t.Fatalf("added = %v, %v (a %d, b %d)", added[0], added[1], a.ID, b.ID)
		}
	})
	t.Run("EventsAndCounts", func(t *testing.T) {
		is, e := f.Issue(t, "counted")
		later := e.Timestamp.Add(time.Hour)
		dup := *e
		var seen map[sqlstore.EventKey]bool
		var users [2]int
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			var err error
			if seen, err = tx.ExistingEvents(ctx, []*herald.Event{e, f.Event("counted")}); err != nil {
				return err
			}
			if err := tx.InsertEvents(ctx, []*herald.Event{&dup}); err != nil { // already there: left as it is
				return err
			}
			added, err := tx.AddIssueUsers(ctx, []sqlstore.IssueUser{{IssueID: is.ID, Key: "id:1"}, {IssueID: is.ID, Key: "id:2"}})
			if err != nil {
				return err
			}
			users[0] = added[is.ID]
			if added, err = tx.AddIssueUsers(ctx, []sqlstore.IssueUser{{IssueID: is.ID, Key: "id:2"}, {IssueID: is.ID, Key: "id:3"}}); err != nil {
				return err
			}
			users[1] = added[is.ID]
			return tx.CountIssues(ctx, []sqlstore.IssueCount{
				{IssueID: is.ID, Events: 2, Users: 3, LastSeen: later},
				{IssueID: is.ID, Events: 1, LastSeen: e.Timestamp}, // last_seen never goes back
			})
		})
		if len(seen) != 1 || !seen[sqlstore.EventKey{ProjectID: f.Project.ID, ID: e.ID}] {
			t.Fatalf("existing = %v", seen)
		}
		// Through the configuration cache the same query also reads the
		// configuration version: the events found are the same.
		var cached map[sqlstore.EventKey]bool
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			tx.CacheConfig()
			var err error
			cached, err = tx.ExistingEvents(ctx, []*herald.Event{e, f.Event("counted")})
			return err
		})
		if fmt.Sprint(cached) != fmt.Sprint(seen) {
			t.Fatalf("existing through the cache = %v, want %v", cached, seen)
		}
		if users != [2]int{2, 1} {
			t.Fatalf("new users = %v, want [2 1]", users)
		}
		got, err := s.FindIssueByID(ctx, is.ID)
		must(t, err)
		if got.Count != 4 || got.UserCount != 3 || !got.LastSeen.Equal(later) {
			t.Fatalf("issue = %+v", got)
		}
		stored, err := s.FindEventByID(ctx, f.Project.ID, e.ID)
		must(t, err)
		if stored.IssueID != is.ID || len(stored.Tags) != 2 || string(stored.Data) != string(e.Data) {
			t.Fatalf("event = %+v", stored)
		}
	})
	t.Run("LatestEvent", func(t *testing.T) {
		is, first := f.Issue(t, "latest")
		second := f.Event("latest")
		second.IssueID, second.Received = is.ID, first.Received.Add(time.Minute)
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error { return tx.InsertEvents(ctx, []*herald.Event{second}) })
		latest, err := s.FindLatestEvent(ctx, is.ID)
		must(t, err)
		if latest.ID != second.ID || latest.IssueID != is.ID || string(latest.Data) != string(second.Data) || len(latest.Tags) != 2 {
			t.Fatalf("latest event = %+v, want %s", latest, second.ID)
		}
		_, err = s.FindLatestEvent(ctx, is.ID+1000)
		wantCode(t, err, herald.ENOTFOUND)
	})
	t.Run("StatusAndAssignee", func(t *testing.T) {
		a, _ := f.Issue(t, "status-a")
		b, _ := f.Issue(t, "status-b")
		var resolved, regressed int64
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			var err error
			if resolved, err = tx.SetIssueStatus(ctx, sqlstore.SetIssueStatusParams{IDs: []int64{a.ID, b.ID}, Status: herald.IssueResolved}); err != nil {
				return err
			}
			// Only a's status changes from resolved once b is ignored.
			if _, err = tx.SetIssueStatus(ctx, sqlstore.SetIssueStatusParams{IDs: []int64{b.ID}, Status: herald.IssueIgnored,
				Substatus: herald.SubstatusArchivedForever}); err != nil {
				return err
			}
			if regressed, err = tx.SetIssueStatus(ctx, sqlstore.SetIssueStatusParams{IDs: []int64{a.ID, b.ID}, Status: herald.IssueUnresolved,
				Substatus: herald.SubstatusRegressed, From: herald.IssueResolved}); err != nil {
				return err
			}
			return tx.AssignIssues(ctx, sqlstore.AssignIssuesParams{IDs: []int64{a.ID}, Assignee: &herald.Assignee{Type: herald.AssigneeUser, ID: f.User.ID}})
		})
		if resolved != 2 || regressed != 1 {
			t.Fatalf("resolved %d, regressed %d", resolved, regressed)
		}
		var selected []*herald.Issue
		extras := []*herald.Issue{{ID: a.ID}, {ID: b.ID}}
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			var err error
			if selected, err = tx.SelectIssues(ctx, herald.IssueSelection{ProjectID: f.Project.ID, IDs: []int64{a.ID, b.ID}}); err != nil {
				return err
			}
			return tx.IssueExtras(ctx, extras)
		})
		byID := map[int64]*herald.Issue{}
		for _, is := range selected {
			byID[is.ID] = is
		}
		ga, gb := byID[a.ID], byID[b.ID]
		if ga == nil || gb == nil || ga.Status != herald.IssueUnresolved || ga.Substatus != herald.SubstatusRegressed ||
			gb.Status != herald.IssueIgnored || gb.Substatus != herald.SubstatusArchivedForever {
			t.Fatalf("selected = %+v %+v", ga, gb)
		}
		if ga.AssignedTo == nil || ga.AssignedTo.Email != f.User.Email || extras[0].AssignedTo == nil || extras[1].AssignedTo != nil {
			t.Fatalf("assignees: selected %+v, extras %+v %+v", ga.AssignedTo, extras[0].AssignedTo, extras[1].AssignedTo)
		}
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			return tx.AssignIssues(ctx, sqlstore.AssignIssuesParams{IDs: []int64{a.ID}})
		})
		got, err := s.FindIssue(ctx, f.Org.ID, fmt.Sprint(a.ID))
		must(t, err)
		if got.AssignedTo != nil {
			t.Fatalf("unassigned issue has %+v", got.AssignedTo)
		}
	})
	t.Run("ActiveHooksAndProjects", func(t *testing.T) {
		h := f.Hook(t, "https://example.com/active", herald.HookEventCreated)
		off := f.Hook(t, "https://example.com/off", herald.HookEventCreated)
		disabled := herald.HookDisabled
		_, err := s.UpdateHook(ctx, f.Project.ID, off.ID, herald.HookUpdate{Status: &disabled})
		must(t, err)
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			hooks, err := tx.ActiveHooks(ctx, []int64{f.Project.ID})
			if err != nil {
				return err
			}
			var ids []string
			for _, x := range hooks[f.Project.ID] {
				ids = append(ids, x.ID)
			}
			if !slices.Contains(ids, h.ID) || slices.Contains(ids, off.ID) {
				t.Errorf("active hooks = %v", ids)
			}
			projects, err := tx.Projects(ctx, []int64{f.Project.ID, 1 << 40})
			if len(projects) != 1 || projects[f.Project.ID].Slug != "web" {
				t.Errorf("projects = %v", projects)
			}
			return err
		})
	})
}

// testIssues checks reading and deleting issues.
func testIssues(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	f.Clock.SetStep(time.Second)
	s := f.Store
	a, ea := f.Issue(t, "read-a")
	b, _ := f.Issue(t, "read-b")
	t.Run("FindIssue", func(t *testing.T) {
		for _, key := range []string{fmt.Sprint(a.ID), a.ShortID, lower(a.ShortID)} {
			got, err := s.FindIssue(ctx, f.Org.ID, key)
			must(t, err)
			if got.ID != a.ID {
				t.Fatalf("FindIssue(%q) = %d", key, got.ID)
			}
		}
		_, err := s.FindIssue(ctx, f.Org.ID+1, fmt.Sprint(a.ID))
		wantCode(t, err, herald.ENOTFOUND)
	})
	t.Run("Search", func(t *testing.T) {
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			_, err := tx.SetIssueStatus(ctx, sqlstore.SetIssueStatusParams{IDs: []int64{b.ID}, Status: herald.IssueResolved})
			return err
		})
		unresolved, _, err := s.SearchIssues(ctx, herald.IssueSearch{ProjectID: f.Project.ID, Statuses: []string{herald.IssueUnresolved}})
		must(t, err)
		all, _, err := s.SearchIssues(ctx, herald.IssueSearch{ProjectID: f.Project.ID})
		must(t, err)
		if len(unresolved) != 1 || unresolved[0].ID != a.ID || len(all) != 2 || all[0].ID != b.ID {
			t.Fatalf("unresolved %d, all %d (most recent first)", len(unresolved), len(all))
		}
		page, next, err := s.SearchIssues(ctx, herald.IssueSearch{ProjectID: f.Project.ID, Page: herald.Page{Limit: 1}})
		must(t, err)
		rest, _, err := s.SearchIssues(ctx, herald.IssueSearch{ProjectID: f.Project.ID, Page: herald.Page{Limit: 1, Cursor: next}})
		must(t, err)
		if len(page) != 1 || len(rest) != 1 || page[0].ID == rest[0].ID {
			t.Fatalf("pages %v / %v", page, rest)
		}
	})
	t.Run("Stats", func(t *testing.T) {
		since := ea.Received.Truncate(time.Hour)
		stats, err := s.IssueStats(ctx, []int64{a.ID}, since, since.Add(2*time.Hour), time.Hour)
		must(t, err)
		if len(stats[a.ID]) != 2 || stats[a.ID][0].Count != 1 || stats[a.ID][1].Count != 0 {
			t.Fatalf("stats = %+v", stats)
		}
	})
	t.Run("UsersAndTeams", func(t *testing.T) {
		u, err := s.FindUserByEmail(ctx, "JANE@acme.example")
		must(t, err)
		team, err := s.FindTeamByID(ctx, f.Org.ID, f.Team.ID)
		must(t, err)
		if u.ID != f.User.ID || team.Slug != "core" {
			t.Fatalf("user %+v, team %+v", u, team)
		}
		_, err = s.FindTeamByID(ctx, f.Org.ID+1, f.Team.ID)
		wantCode(t, err, herald.ENOTFOUND)
	})
	t.Run("Delete", func(t *testing.T) {
		must(t, s.DeleteIssue(ctx, b.ID))
		_, err := s.FindIssueByID(ctx, b.ID)
		wantCode(t, err, herald.ENOTFOUND)
		wantCode(t, s.DeleteIssue(ctx, b.ID), herald.ENOTFOUND)
	})
}

// lower lowercases ASCII letters.
func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// testComments checks the comment primitives and listing.
func testComments(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	is, _ := f.Issue(t, "commented")
	c := &herald.Comment{IssueID: is.ID, UserID: f.User.ID, Text: "first"}
	var p *herald.Project
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
		var err error
		if p, err = tx.IssueProject(ctx, is.ID); err != nil {
			return err
		}
		return tx.InsertComment(ctx, c)
	})
	if c.ID == 0 || c.User == nil || c.User.Email != f.User.Email || p.ID != f.Project.ID {
		t.Fatalf("comment %+v, project %+v", c, p)
	}
	count := func() int64 {
		got, err := s.FindIssue(ctx, f.Org.ID, fmt.Sprint(is.ID))
		must(t, err)
		return got.NumComments
	}
	if n := count(); n != 1 {
		t.Fatalf("comments counted %d", n)
	}
	ref := sqlstore.CommentRef{IssueID: is.ID, ID: c.ID, UserID: f.User.ID}
	must(t, s.InTx(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.UpdateComment(ctx, sqlstore.CommentRef{IssueID: is.ID, ID: c.ID, UserID: f.User.ID + 1}, "hijacked")
		wantCode(t, err, herald.ENOTFOUND)
		got, err := tx.UpdateComment(ctx, ref, "second")
		if err == nil && got.Text != "second" {
			t.Errorf("updated = %+v", got)
		}
		return err
	}))
	list, err := s.FindComments(ctx, is.ID)
	must(t, err)
	if len(list) != 1 || list[0].Text != "second" {
		t.Fatalf("comments = %+v", list)
	}
	var deleted *herald.Comment
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
		var err error
		deleted, err = tx.DeleteComment(ctx, ref)
		return err
	})
	if deleted.Text != "second" || count() != 0 {
		t.Fatalf("deleted %+v, %d left", deleted, count())
	}
	must(t, s.InTx(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.DeleteComment(ctx, ref)
		wantCode(t, err, herald.ENOTFOUND)
		_, err = tx.IssueProject(ctx, 1<<40)
		wantCode(t, err, herald.ENOTFOUND)
		return nil
	}))
}

// testInstallations checks installations: at most one live per app and
// organization, grants and tokens, uninstalling, and which installations
// a webhook can go to.
func testInstallations(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	app := f.App(t, "pager", false, "issue")
	inst := &herald.Installation{AppID: app.ID, OrganizationID: f.Org.ID, Status: herald.InstallationPending, Code: herald.NewID()}
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error { return tx.InsertInstallation(ctx, inst, app) })
	t.Run("OneLivePerOrganization", func(t *testing.T) {
		again := &herald.Installation{AppID: app.ID, OrganizationID: f.Org.ID, Status: herald.InstallationPending}
		wantCode(t, s.InTx(ctx, func(tx *sqlstore.Tx) error { return tx.InsertInstallation(ctx, again, app) }), herald.ECONFLICT)
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			live, err := tx.LiveInstallation(ctx, sqlstore.InstallationRef{AppID: app.ID, OrganizationID: f.Org.ID})
			if err == nil && (live.UUID != inst.UUID || live.App.Slug != "pager" || live.Organization.Slug != "acme") {
				t.Errorf("live = %+v", live)
			}
			return err
		})
	})
	var tok *herald.AppAuthorization
	t.Run("GrantAndRefresh", func(t *testing.T) {
		_, err := s.ExchangeGrant(ctx, inst.UUID, "wrong")
		wantCode(t, err, herald.EINVALID)
		tok, err = s.ExchangeGrant(ctx, inst.UUID, inst.Code)
		must(t, err)
		_, err = s.ExchangeGrant(ctx, inst.UUID, inst.Code)
		wantCode(t, err, herald.EINVALID)
		next, err := s.RefreshAppToken(ctx, inst.UUID, tok.RefreshToken)
		must(t, err)
		if _, err := s.FindTokenByValue(ctx, tok.Token.Value); herald.ErrorCode(err) != herald.EUNAUTHORIZED {
			t.Fatalf("refreshed-away token: %v", err)
		}
		tok = next
		got, err := s.FindTokenByValue(ctx, tok.Token.Value)
		must(t, err)
		if got.OrganizationID != f.Org.ID || got.AppID != app.ID {
			t.Fatalf("token = %+v", got)
		}
	})
	t.Run("WebhookTargets", func(t *testing.T) {
		quiet := f.App(t, "quiet", false)
		noURL := &herald.SentryApp{Slug: "nourl", Name: "nourl", Author: "Acme", OrganizationID: f.Org.ID, Status: herald.AppInternal,
			Scopes: []string{}, Events: []string{}}
		_, _, err := s.CreateApp(ctx, noURL)
		must(t, err)
		installed := f.Install(t, quiet)
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			byOrg, err := tx.OrgInstallations(ctx, []int64{f.Org.ID})
			if err != nil {
				return err
			}
			// The pending installation and the app without a URL are left out.
			if got := byOrg[f.Org.ID]; len(got) != 1 || got[0].UUID != installed.UUID || got[0].App.ClientSecret == "" {
				t.Errorf("org installations = %+v", got)
			}
			byUUID, err := tx.InstallationsByUUID(ctx, []string{installed.UUID, inst.UUID})
			if err != nil {
				return err
			}
			if len(byUUID) != 1 || byUUID[installed.UUID] == nil {
				t.Errorf("by uuid = %v", byUUID)
			}
			byApp, err := tx.AppInstallations(ctx, sqlstore.AppOrgParams{OrganizationID: f.Org.ID, AppIDs: []int64{app.ID, quiet.ID}})
			if len(byApp) != 1 || byApp[0].AppID != quiet.ID {
				t.Errorf("by app = %+v", byApp)
			}
			return err
		})
	})
	t.Run("Uninstall", func(t *testing.T) {
		verified, err := s.VerifyInstallation(ctx, inst.UUID)
		must(t, err)
		if verified.Status != herald.InstallationInstalled {
			t.Fatalf("verified = %+v", verified)
		}
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			live, err := tx.Installation(ctx, inst.UUID)
			if err != nil {
				return err
			}
			return tx.Uninstall(ctx, live)
		})
		_, err = s.FindInstallationByUUID(ctx, inst.UUID)
		wantCode(t, err, herald.ENOTFOUND)
		if _, err := s.FindTokenByValue(ctx, tok.Token.Value); herald.ErrorCode(err) != herald.EUNAUTHORIZED {
			t.Fatalf("token of an uninstalled installation: %v", err)
		}
		member, err := s.IsMember(ctx, f.Org.ID, app.ProxyUserID)
		must(t, err)
		if member {
			t.Fatal("the app's user is still a member")
		}
		// It can be installed again.
		fresh := &herald.Installation{AppID: app.ID, OrganizationID: f.Org.ID, Status: herald.InstallationInstalled}
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error { return tx.InsertInstallation(ctx, fresh, app) })
	})
}

// testRuleFires checks the fire times of issue alert rules, which decide
// that a rule fires once per frequency and issue, whichever node sees it.
func testRuleFires(t *testing.T, open Opener) {
	f := NewFixture(t, open)
	r := f.Rule(t, "Every", 5, []herald.RuleItem{{"id": EveryEventCondition}}, nil)
	is, _ := f.Issue(t, "fired")
	key := sqlstore.FireKey{RuleID: r.ID, IssueID: is.ID}
	now := f.Clock.Now()
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
		fires, err := tx.RuleFires(ctx, sqlstore.RuleFiresParams{RuleIDs: []int64{r.ID}, IssueIDs: []int64{is.ID}})
		if err != nil {
			return err
		}
		if len(fires) != 0 {
			t.Errorf("fires before any = %v", fires)
		}
		for _, c := range []struct {
			name   string
			at     time.Time
			unless time.Time
			won    bool
		}{
			{"First", now, now.Add(-5 * time.Minute), true},
			{"WithinFrequency", now.Add(time.Minute), now.Add(-4 * time.Minute), false},
			{"AfterFrequency", now.Add(6 * time.Minute), now.Add(time.Minute), true},
		} {
			won, err := tx.RecordFire(ctx, sqlstore.RecordFireParams{FireKey: key, At: c.at, Unless: c.unless})
			if err != nil {
				return err
			}
			if won != c.won {
				t.Errorf("%s: won = %v", c.name, won)
			}
		}
		fires, err = tx.RuleFires(ctx, sqlstore.RuleFiresParams{RuleIDs: []int64{r.ID}, IssueIDs: []int64{is.ID}})
		if !fires[key].Equal(now.Add(6 * time.Minute)) {
			t.Errorf("last fire = %v", fires[key])
		}
		return err
	})
}

// testCounters checks the alert counters of issues and metric alert rules
// alike: a window of whole seconds counts the events and distinct users
// of exactly its seconds, across minute boundaries at both ends, whatever
// order a user's seconds were written in; users can be left out; purging
// drops what no window reaches, second counters with their minutes.
func testCounters(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	is, _ := f.Issue(t, "counters")
	other, _ := f.Issue(t, "counters-other")
	rule := f.MetricRule(t, &herald.MetricAlertRule{}, nil, 5, 0)
	b := sqlstore.Second(f.Clock.Now()) // a minute boundary
	if b%60 != 0 {
		t.Fatalf("fixture clock %v is not at a minute boundary", f.Clock.Now())
	}
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
		counts := []sqlstore.AlertCount{
			{Second: b - 610, Events: 4, Users: []string{"old"}},
			{Second: b - 70, Events: 1, Users: []string{"z"}}, // :50 two minutes back
			{Second: b - 35, Events: 2, Users: []string{"b", "a"}},
			{Second: b - 35, Events: 1, Users: []string{"a"}},
			{Second: b + 10, Events: 5, Users: []string{"c"}},
			{Second: b + 50, Events: 1, Users: []string{"b"}},
			{Second: b + 40, Users: []string{"d"}}, // d's seconds out of order
			{Second: b + 5, Users: []string{"d"}},
		}
		issue, metric := slices.Clone(counts), slices.Clone(counts)
		for i := range counts {
			issue[i].ID, metric[i].ID = is.ID, rule.ID
		}
		if err := tx.AddIssueCounts(ctx, issue); err != nil {
			return err
		}
		return tx.AddMetricCounts(ctx, metric)
	})
	window := func(t *testing.T, p sqlstore.WindowParams) (issue, metric int64) {
		t.Helper()
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			var err error
			p.ID = is.ID
			if issue, err = tx.IssueWindow(ctx, p); err != nil {
				return err
			}
			p.ID = rule.ID
			metric, err = tx.MetricWindow(ctx, p)
			return err
		})
		return issue, metric
	}
	for _, c := range []struct {
		name          string
		from, to      int64
		except        []string
		events, users int64
	}{
		{"WholeMinute", b - 60, b, nil, 3, 2},
		{"StraddlingMinute", b - 30, b + 30, nil, 5, 2},      // c, d (first at +5)
		{"StartsAtSecond", b - 35, b + 25, nil, 8, 4},        // a, b, c, d
		{"OldEdgeLeftOut", b - 69, b - 9, nil, 3, 2},         // not z's :50
		{"OldEdgeIn", b - 70, b - 10, nil, 4, 3},             // z too
		{"StartLeavesOut", b + 11, b + 71, nil, 1, 2},        // b at +50, d (last at +40)
		{"EndAtSecond", b - 50, b + 10, nil, 3, 3},           // not c's +10; d's +5
		{"UserLastBeforeWindow", b + 41, b + 101, nil, 1, 1}, // b only
		{"WholeMinutesAndParts", b - 90, b + 30, nil, 9, 5},  // z, a, b, c, d
		{"Except", b - 60, b + 60, []string{"a", "x"}, 9, 3}, // b, c, d
		{"All", b - 700, b + 60, nil, 14, 6},                 // old, z, a, b, c, d
		{"Later", b + 60, b + 120, nil, 0, 0},
		{"ShortWithinMinute", b + 5, b + 15, nil, 5, 2}, // c, d at +5
		{"Empty", b, b, nil, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := sqlstore.WindowParams{From: c.from, To: c.to}
			if issue, metric := window(t, p); issue != c.events || metric != c.events {
				t.Errorf("events: issue window %d, metric window %d, want %d", issue, metric, c.events)
			}
			p.Users, p.Except = true, c.except
			if issue, metric := window(t, p); issue != c.users || metric != c.users {
				t.Errorf("users: issue window %d, metric window %d, want %d", issue, metric, c.users)
			}
			// The same window read for several issues at once: this
			// issue's sum, nothing for an issue without counts.
			f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
				sums, err := tx.IssueEventWindows(ctx, []int64{is.ID, other.ID}, c.from, c.to)
				_, otherSummed := sums[other.ID]
				if _, summed := sums[is.ID]; err == nil && (sums[is.ID] != c.events || summed != (c.events > 0) || otherSummed) {
					t.Errorf("issue windows = %v, want %d for issue %d", sums, c.events, is.ID)
				}
				return err
			})
		})
	}
	all := sqlstore.WindowParams{From: b - 700, To: b + 60}
	t.Run("PurgeMetric", func(t *testing.T) {
		// 25 hours on, the metric counters before b are of no use; the
		// issue counters are kept for 31 days.
		_, err := s.PurgeAlertCounts(ctx, f.Clock.Now().Add(25*time.Hour))
		must(t, err)
		if issue, metric := window(t, all); issue != 14 || metric != 6 {
			t.Fatalf("left %d and %d events, want 14 and 6", issue, metric)
		}
		all.Users = true
		defer func() { all.Users = false }()
		if issue, metric := window(t, all); issue != 6 || metric != 3 {
			t.Fatalf("left %d and %d users, want 6 and 3", issue, metric)
		}
	})
	t.Run("Purge", func(t *testing.T) {
		n, err := s.PurgeAlertCounts(ctx, f.Clock.Now().Add(32*24*time.Hour))
		must(t, err)
		if issue, metric := window(t, all); n == 0 || issue != 0 || metric != 0 {
			t.Fatalf("purged %d; left %d and %d", n, issue, metric)
		}
		var left int
		must(t, s.SQL().QueryRow(`SELECT (SELECT COUNT(*) FROM issue_seconds) + (SELECT COUNT(*) FROM metric_seconds)`).Scan(&left))
		if left != 0 {
			t.Fatalf("%d second counters left", left)
		}
	})
}

// testMetricAlerts checks metric alert rules and their incidents.
func testMetricAlerts(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	app := f.App(t, "pager", true)
	spike := f.MetricRule(t, &herald.MetricAlertRule{Query: "level:error"}, app, 4, 2)
	f.MetricRule(t, &herald.MetricAlertRule{Name: "Heartbeat", ThresholdType: herald.ThresholdBelow, ResolveThreshold: ptr(2.0)}, nil, 1, 0)
	t.Run("CRUD", func(t *testing.T) {
		got, err := s.FindMetricAlertByID(ctx, f.Org.ID, spike.ID)
		must(t, err)
		if got.Name != "Spike" || got.Query != "level:error" || len(got.Triggers) != 2 || got.Triggers[0].Actions[0].SentryAppID != app.ID ||
			!slices.Equal(got.Projects, []string{"web"}) {
			t.Fatalf("rule = %+v", got)
		}
		list, err := s.FindMetricAlerts(ctx, f.Org.ID)
		must(t, err)
		if len(list) != 2 || list[1].ResolveThreshold == nil || *list[1].ResolveThreshold != 2 {
			t.Fatalf("rules = %+v", list)
		}
		_, err = s.FindMetricAlertByID(ctx, f.Org.ID+1, spike.ID)
		wantCode(t, err, herald.ENOTFOUND)
		tmp := f.MetricRule(t, &herald.MetricAlertRule{Name: "Temp"}, nil, 5, 0)
		tmp.Name = "Temp 2"
		must(t, s.UpdateMetricAlert(ctx, tmp))
		got, err = s.FindMetricAlertByID(ctx, f.Org.ID, tmp.ID)
		must(t, err)
		if got.Name != "Temp 2" {
			t.Fatalf("updated = %+v", got)
		}
		must(t, s.DeleteMetricAlert(ctx, f.Org.ID, tmp.ID))
		wantCode(t, s.DeleteMetricAlert(ctx, f.Org.ID, tmp.ID), herald.ENOTFOUND)
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			all, err := tx.MetricRules(ctx, nil)
			if err != nil {
				return err
			}
			of, err := tx.MetricRules(ctx, []int64{f.Org.ID + 1})
			if len(all) != 2 || len(of) != 0 {
				t.Errorf("rules: %d in all, %d of another organization", len(all), len(of))
			}
			return err
		})
	})
	t.Run("Incidents", func(t *testing.T) {
		now := f.Clock.Now()
		first := &herald.Incident{OrganizationID: f.Org.ID, RuleID: spike.ID, Title: spike.Name, Status: herald.IncidentOpen, DateStarted: now}
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			if err := tx.InsertIncident(ctx, first); err != nil {
				return err
			}
			first.Status = herald.IncidentCritical
			return tx.UpdateIncident(ctx, first, []herald.IncidentChange{{Status: herald.IncidentOpen, Value: 5, At: now},
				{Status: herald.IncidentCritical, Value: 5, At: now}})
		})
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			open, err := tx.OpenIncidents(ctx)
			if open[spike.ID] == nil || open[spike.ID].ID != first.ID || open[spike.ID].Status != herald.IncidentCritical {
				t.Errorf("open = %v", open)
			}
			first.Status, first.DateClosed = herald.IncidentClosed, &now
			if err := tx.UpdateIncident(ctx, first, []herald.IncidentChange{{Status: herald.IncidentClosed, Value: 0, At: now.Add(time.Minute)}}); err != nil {
				return err
			}
			second := &herald.Incident{OrganizationID: f.Org.ID, RuleID: spike.ID, Title: spike.Name, Status: herald.IncidentOpen, DateStarted: now}
			if err := tx.InsertIncident(ctx, second); err != nil {
				return err
			}
			if first.Identifier != 1 || second.Identifier != 2 {
				t.Errorf("identifiers %d, %d", first.Identifier, second.Identifier)
			}
			return err
		})
		list, err := s.FindIncidents(ctx, f.Org.ID, spike.ID)
		must(t, err)
		if len(list) != 2 || list[1].ID != first.ID || list[1].DateClosed == nil || len(list[1].History) != 3 ||
			list[1].History[2].Status != herald.IncidentClosed {
			t.Fatalf("incidents = %+v", list)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// testValidation checks that the store refuses what the domain's Validate
// methods refuse, whoever calls it.
func testValidation(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	tests := []struct {
		name string
		err  error
	}{
		{"HookURL", s.CreateHook(ctx, &herald.Hook{ProjectID: f.Project.ID, URL: "http://a:99999/", Events: []string{herald.HookEventCreated}})},
		{"HookEvents", s.CreateHook(ctx, &herald.Hook{ProjectID: f.Project.ID, URL: "https://example.com/h", Events: []string{"issue.created"}})},
		{"OrganizationSlug", s.CreateOrganization(ctx, &herald.Organization{Name: "Numbers", Slug: "1234"}, f.User.ID)},
		{"TeamName", s.CreateTeam(ctx, &herald.Team{OrganizationID: f.Org.ID, Slug: "blank", Name: " "})},
		{"ProjectSlug", s.CreateProject(ctx, &herald.Project{OrganizationID: f.Org.ID, TeamID: f.Team.ID, Name: "P", Slug: "Not A Slug"})},
		{"TokenScope", s.CreateToken(ctx, &herald.Token{UserID: f.User.ID, Scopes: []string{"root:everything"}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.err, herald.EINVALID)
		})
	}
	h := f.Hook(t, "https://example.com/h", herald.HookEventCreated)
	bad := "ftp://example.com/"
	_, err := s.UpdateHook(ctx, f.Project.ID, h.ID, herald.HookUpdate{URL: &bad})
	wantCode(t, err, herald.EINVALID)
}
