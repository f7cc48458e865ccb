package sqlstore

import (
	"slices"
	"testing"
	"testing/fstest"
)

func TestMigrationFiles(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"0002_b.sql":          {Data: []byte("x")},
		"0001_a.sql":          {Data: []byte("x")},
		"0003_c.postgres.sql": {Data: []byte("x")},
		"0004_d.sqlite.sql":   {Data: []byte("x")},
		"README":              {Data: []byte("x")},
	}
	tests := []struct {
		dialect string
		want    []string
	}{
		{"postgres", []string{"0001_a.sql", "0002_b.sql", "0003_c.postgres.sql"}},
		{"sqlite", []string{"0001_a.sql", "0002_b.sql", "0004_d.sqlite.sql"}},
		{"other", []string{"0001_a.sql", "0002_b.sql"}},
	}
	for _, tt := range tests {
		t.Run(tt.dialect, func(t *testing.T) {
			t.Parallel()
			got, err := migrationFiles(fsys, tt.dialect)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("migrationFiles(%s) = %q, want %q", tt.dialect, got, tt.want)
			}
		})
	}
}
