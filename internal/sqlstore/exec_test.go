package sqlstore

import (
	"reflect"
	"strings"
	"testing"
)

func TestColumnArrays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []any
		cols   int
		arrays []any
		types  []string
		ok     bool
	}{
		{"Typed", []any{int64(1), "a", []byte("x"), true, 7, "b", []byte(nil), false}, 4,
			[]any{[]int64{1, 7}, []string{"a", "b"}, [][]byte{[]byte("x"), nil}, []bool{true, false}},
			[]string{"BIGINT", "TEXT", "BYTEA", "BOOLEAN"}, true},
		{"IntAndInt64", []any{3, int64(4)}, 1, []any{[]int64{3, 4}}, []string{"BIGINT"}, true},
		{"MixedColumn", []any{"a", int64(1)}, 1, nil, nil, false},
		{"UnknownType", []any{1.5, 2.5}, 1, nil, nil, false},
		{"Nil", []any{"a", nil}, 1, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			arrays, types, ok := columnArrays(tt.args, tt.cols)
			if ok != tt.ok || !reflect.DeepEqual(arrays, tt.arrays) || !reflect.DeepEqual(types, tt.types) {
				t.Errorf("columnArrays = %v, %v, %v; want %v, %v, %v", arrays, types, ok, tt.arrays, tt.types, tt.ok)
			}
		})
	}
}

func TestSQLiteParams(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"None", "SELECT 1", "SELECT 1"},
		{"InOrder", "SELECT * FROM t WHERE a = $1 AND b = $2", "SELECT * FROM t WHERE a = ? AND b = ?"},
		{"TwoDigits", "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
		{"Repeated", "UPDATE t SET a = $1 WHERE b = $1", "UPDATE t SET a = ?1 WHERE b = ?1"},
		{"OutOfOrder", "SELECT $2, $1", "SELECT ?2, ?1"},
		{"Gap", "SELECT $1, $3", "SELECT ?1, ?3"},
		{"NotFromOne", "SELECT $2", "SELECT ?2"},
		{"DollarAlone", "SELECT '$' || $1", "SELECT '$' || ?"},
		{"AtEnd", "SELECT $1, $", "SELECT ?, $"},
		{"Adjacent", "SELECT $1$2", "SELECT ??"},
		{"LeadingZero", "SELECT $01", "SELECT ?01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := sqliteParams(tt.in); got != tt.want {
				t.Errorf("sqliteParams(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRenumber(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q      string
		offset int
		want   string
	}{
		{"SELECT $1", 0, "SELECT $1"},
		{"SELECT $1, $2", 3, "SELECT $4, $5"},
		{"UPDATE t SET a = $10 WHERE id = $9", 7, "UPDATE t SET a = $17 WHERE id = $16"},
		{"CAST($1 AS TEXT[]), CAST($12 AS BIGINT[])", 20, "CAST($21 AS TEXT[]), CAST($32 AS BIGINT[])"},
		{"SELECT '$' || $1, $", 1, "SELECT '$' || $2, $"},
		{"$1$2", 1, "$2$3"},
	}
	for _, tt := range tests {
		if got := renumber(tt.q, tt.offset); got != tt.want {
			t.Errorf("renumber(%q, %d) = %q, want %q", tt.q, tt.offset, got, tt.want)
		}
	}
}

func TestRebind(t *testing.T) {
	t.Parallel()
	const q = "INSERT INTO t (a, b) VALUES ($1, $2)"
	pg := &DB{dialect: Dialect{Name: "postgres"}}
	if got := pg.rebind(q); got != q {
		t.Errorf("PostgreSQL rebind(%q) = %q, want it unchanged", q, got)
	}
	s := &DB{dialect: Dialect{Name: "sqlite"}}
	for range 2 { // rewritten, then from the cache
		if got, want := s.rebind(q), "INSERT INTO t (a, b) VALUES (?, ?)"; got != want {
			t.Fatalf("rebind(%q) = %q, want %q", q, got, want)
		}
	}
	if got := s.rebind("SELECT 1"); got != "SELECT 1" {
		t.Errorf("rebind without parameters = %q", got)
	}
	// A long multi-row statement is rewritten, and not kept.
	long := "INSERT INTO t (a, b) VALUES " + valuesList(500, 2)
	if got := s.rebind(long); strings.Contains(got, "$") || !strings.HasPrefix(got, "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)") {
		t.Fatalf("rebind of a %d-byte statement = %.60q...", len(long), got)
	}
	if _, kept := s.rebound.m.Load(long); kept {
		t.Errorf("a %d-byte statement was kept (over %d)", len(long), maxReboundLen)
	}
	s.rebound.m.Clear()
	s.rebound.n.Store(0)
	// Past maxRebound texts, queries are still rewritten, and no longer kept.
	for i := range maxRebound + 10 {
		q := "SELECT $1 + " + itoa(i)
		if got, want := s.rebind(q), "SELECT ? + "+itoa(i); got != want {
			t.Fatalf("rebind(%q) = %q, want %q", q, got, want)
		}
	}
	kept := 0
	s.rebound.m.Range(func(any, any) bool { kept++; return true })
	if kept != maxRebound || int(s.rebound.n.Load()) != maxRebound {
		t.Errorf("cache holds %d texts (counted %d), want %d", kept, s.rebound.n.Load(), maxRebound)
	}
}

// BenchmarkRebind rewrites the single-row insert SQLite runs for each event
// of a batch.
func BenchmarkRebind(b *testing.B) {
	s := &DB{dialect: Dialect{Name: "sqlite"}}
	q := `INSERT INTO events (` + eventColumns + `) VALUES ` + valuesList(1, 18) + ` ON CONFLICT (project_id, id) DO NOTHING`
	b.Run("Rewrite", func(b *testing.B) {
		for b.Loop() {
			_ = sqliteParams(q)
		}
	})
	b.Run("Cached", func(b *testing.B) {
		for b.Loop() {
			_ = s.rebind(q)
		}
	})
}
