package storetest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/sqlstore"
)

// testIssueResolutions checks what the store keeps of an issue besides its
// counts: the resolution of a resolved issue (written with the status,
// cleared by any other) and whether the issue is unhandled (written with a
// new issue, then by the latest events counted), as every read of an issue
// returns them; and migration 0012, which fills in the unhandled flag of
// issues stored before it.
func testIssueResolutions(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store

	// reads returns the issue id as each read of the store returns it.
	reads := func(t *testing.T, id int64) map[string]*herald.Issue {
		t.Helper()
		out := map[string]*herald.Issue{}
		var err error
		out["FindIssueByID"], err = s.FindIssueByID(ctx, id)
		must(t, err)
		out["FindIssue"], err = s.FindIssue(ctx, f.Org.ID, fmt.Sprint(id))
		must(t, err)
		list, _, err := s.SearchIssues(ctx, herald.IssueSearch{ProjectID: f.Project.ID, Page: herald.Page{Limit: 100}})
		must(t, err)
		for _, is := range list {
			if is.ID == id {
				out["SearchIssues"] = is
			}
		}
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			selected, err := tx.SelectIssues(ctx, herald.IssueSelection{ProjectID: f.Project.ID, IDs: []int64{id}})
			if len(selected) == 1 {
				out["SelectIssues"] = selected[0]
			}
			return err
		})
		if len(out) != 4 {
			t.Fatalf("issue %d read by %d of the 4 reads", id, len(out))
		}
		return out
	}
	setStatus := func(t *testing.T, p sqlstore.SetIssueStatusParams) {
		t.Helper()
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			_, err := tx.SetIssueStatus(ctx, p)
			return err
		})
	}

	t.Run("Resolution", func(t *testing.T) {
		tests := []struct {
			name string
			set  *herald.Resolution
			want *herald.Resolution
		}{
			{"Now", nil, nil},
			{"NowExplicit", &herald.Resolution{Type: herald.ResolvedNow}, nil},
			{"InNextRelease", &herald.Resolution{Type: herald.ResolvedInNextRelease}, &herald.Resolution{Type: herald.ResolvedInNextRelease}},
			{"InRelease", &herald.Resolution{Type: herald.ResolvedInRelease, Release: "shop@1.2.3"},
				&herald.Resolution{Type: herald.ResolvedInRelease, Release: "shop@1.2.3"}},
			{"InCommit", &herald.Resolution{Type: herald.ResolvedInCommit, Commit: "a1b2c3d4", Repository: "acme/web"},
				&herald.Resolution{Type: herald.ResolvedInCommit, Commit: "a1b2c3d4", Repository: "acme/web"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				is, _ := f.Issue(t, "resolution-"+tt.name)
				// An earlier resolution is replaced.
				setStatus(t, sqlstore.SetIssueStatusParams{IDs: []int64{is.ID}, Status: herald.IssueResolved,
					Resolution: &herald.Resolution{Type: herald.ResolvedInRelease, Release: "0.9"}})
				setStatus(t, sqlstore.SetIssueStatusParams{IDs: []int64{is.ID}, Status: herald.IssueResolved, Resolution: tt.set})
				for read, got := range reads(t, is.ID) {
					if got.Status != herald.IssueResolved || !reflect.DeepEqual(got.Resolution, tt.want) {
						t.Errorf("%s: status %s, resolution %+v; want resolved, %+v", read, got.Status, got.Resolution, tt.want)
					}
				}
			})
		}
	})
	t.Run("ResolutionCleared", func(t *testing.T) {
		tests := []struct {
			name string
			p    sqlstore.SetIssueStatusParams
		}{
			{"Unresolved", sqlstore.SetIssueStatusParams{Status: herald.IssueUnresolved, Substatus: herald.SubstatusOngoing}},
			{"Ignored", sqlstore.SetIssueStatusParams{Status: herald.IssueIgnored, Substatus: herald.SubstatusUntilEscalating}},
			{"Regressed", sqlstore.SetIssueStatusParams{Status: herald.IssueUnresolved, Substatus: herald.SubstatusRegressed, From: herald.IssueResolved}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				is, _ := f.Issue(t, "cleared-"+tt.name)
				setStatus(t, sqlstore.SetIssueStatusParams{IDs: []int64{is.ID}, Status: herald.IssueResolved,
					Resolution: &herald.Resolution{Type: herald.ResolvedInCommit, Commit: "a1b2c3d4", Repository: "acme/web"}})
				tt.p.IDs = []int64{is.ID}
				setStatus(t, tt.p)
				for read, got := range reads(t, is.ID) {
					if got.Status != tt.p.Status || got.Resolution != nil {
						t.Errorf("%s: status %s, resolution %+v; want %s and none", read, got.Status, got.Resolution, tt.p.Status)
					}
				}
			})
		}
		t.Run("NotWhereFromDiffers", func(t *testing.T) {
			// A regression of an issue no longer resolved changes nothing.
			is, _ := f.Issue(t, "cleared-from")
			r := &herald.Resolution{Type: herald.ResolvedInNextRelease}
			setStatus(t, sqlstore.SetIssueStatusParams{IDs: []int64{is.ID}, Status: herald.IssueResolved, Resolution: r})
			setStatus(t, sqlstore.SetIssueStatusParams{IDs: []int64{is.ID}, Status: herald.IssueUnresolved, Substatus: herald.SubstatusRegressed,
				From: herald.IssueIgnored})
			got, err := s.FindIssueByID(ctx, is.ID)
			must(t, err)
			if got.Status != herald.IssueResolved || !reflect.DeepEqual(got.Resolution, r) {
				t.Fatalf("status %s, resolution %+v", got.Status, got.Resolution)
			}
		})
	})
	t.Run("Unhandled", func(t *testing.T) {
		e := f.Event("unhandled")
		n := newIssue(f, e)
		n.Unhandled = true
		var is *herald.Issue
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			var err error
			is, _, err = upsertIssue(ctx, tx, n)
			return err
		})
		check := func(t *testing.T, want bool) {
			t.Helper()
			for read, got := range reads(t, is.ID) {
				if got.Unhandled != want {
					t.Errorf("%s: unhandled %v, want %v", read, got.Unhandled, want)
				}
			}
		}
		check(t, true)
		var found *herald.Issue
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			var err error
			again := newIssue(f, e) // handled: an existing issue keeps its flag
			found, _, err = upsertIssue(ctx, tx, again)
			return err
		})
		if found.ID != is.ID || !found.Unhandled {
			t.Fatalf("found issue %d unhandled %v, want %d true", found.ID, found.Unhandled, is.ID)
		}
		// Each count is a batch whose latest event is at LastSeen; the
		// issue takes its flag unless it has seen a later event.
		steps := []struct {
			name  string
			at    time.Duration
			flag  bool
			want  bool
			count int64
		}{
			{"LaterHandled", time.Minute, false, false, 2},
			{"EarlierUnhandledIgnored", -time.Minute, true, false, 3},
			{"SameTimeUnhandled", time.Minute, true, true, 4},
			{"LaterHandledAgain", 2 * time.Minute, false, false, 5},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
					return tx.CountIssues(ctx, []sqlstore.IssueCount{{IssueID: is.ID, Events: 1, LastSeen: e.Timestamp.Add(st.at), Unhandled: st.flag}})
				})
				check(t, st.want)
				got, err := s.FindIssueByID(ctx, is.ID)
				must(t, err)
				if got.Count != st.count {
					t.Fatalf("count %d, want %d", got.Count, st.count)
				}
			})
		}
	})
	t.Run("MigrationFillsUnhandled", func(t *testing.T) {
		testUnhandledMigration(t, open)
	})
}

// testUnhandledMigration stores issues as they were before migration 0012,
// applies it again, and checks the unhandled flag it gives each: that of
// its latest event by timestamp, read from its "handled" tag.
func testUnhandledMigration(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	t0 := f.Clock.Now()
	tags := func(lines ...string) []herald.Tag {
		var out []herald.Tag
		for _, l := range lines {
			k, v, _ := strings.Cut(l, "=")
			out = append(out, herald.Tag{Key: k, Value: v})
		}
		return out
	}
	type event struct {
		at   time.Duration
		tags []herald.Tag
	}
	tests := []struct {
		name   string
		events []event
		want   bool
	}{
		{"LatestUnhandled", []event{{0, tags("handled=yes")}, {time.Minute, tags("environment=prod", "handled=no", "level=error")}}, true},
		{"LatestHandled", []event{{time.Minute, tags("handled=yes", "level=error")}, {0, tags("handled=no")}}, false},
		{"OnlyTag", []event{{0, tags("handled=no")}}, true},
		{"LastLine", []event{{0, tags("environment=prod", "handled=no")}}, true},
		{"OtherKey", []event{{0, tags("mishandled=no", "handled=yes")}}, false},
		{"OtherValue", []event{{0, tags("handled=nope")}}, false},
		{"NoTag", []event{{0, tags("level=error")}}, false},
		{"NoEvents", nil, false},
	}
	ids := map[string]int64{}
	for _, tt := range tests {
		e := f.Event("migrated-" + tt.name)
		e.Timestamp = t0
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			is, _, err := upsertIssue(ctx, tx, newIssue(f, e))
			if err != nil {
				return err
			}
			ids[tt.name] = is.ID
			var events []*herald.Event
			for _, ev := range tt.events {
				x := f.Event(e.GroupHash)
				x.IssueID, x.Timestamp, x.Tags = is.ID, t0.Add(ev.at), ev.tags
				events = append(events, x)
			}
			if len(events) == 0 {
				return nil
			}
			return tx.InsertEvents(ctx, events)
		})
	}
	// Back to the schema before 0012, then migrate again.
	db := s.SQL()
	for _, stmt := range []string{
		`DELETE FROM herald_migrations WHERE name = '0012_issue_resolution.sql'`,
		`ALTER TABLE issues DROP COLUMN resolution_type`,
		`ALTER TABLE issues DROP COLUMN resolution_release`,
		`ALTER TABLE issues DROP COLUMN resolution_commit`,
		`ALTER TABLE issues DROP COLUMN resolution_repository`,
		`ALTER TABLE issues DROP COLUMN unhandled`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	must(t, s.Migrate(ctx))
	must(t, s.Ping(ctx))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.FindIssueByID(ctx, ids[tt.name])
			must(t, err)
			if got.Unhandled != tt.want || got.Resolution != nil {
				t.Fatalf("unhandled %v, resolution %+v; want %v and none", got.Unhandled, got.Resolution, tt.want)
			}
		})
	}
}
