package storetest_test

import (
	"testing"

	"github.com/herald-dev/herald/internal/storetest"
)

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.OpenSQLite)
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.OpenPostgres)
}
