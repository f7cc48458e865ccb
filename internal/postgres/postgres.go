// Package postgres opens Herald's PostgreSQL store through pgx's
// database/sql adapter, with River's database/sql driver on the same pool,
// so that several Herald nodes can share one database.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/herald-dev/herald/internal/sqlstore"
)

// Open connects to the database at url (postgres://...), applies migrations
// and returns the store.
func Open(ctx context.Context, url string, opts sqlstore.Options) (*sqlstore.DB, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(40)
	db.SetMaxIdleConns(40)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	s, err := sqlstore.Open(ctx, db, sqlstore.Dialect{
		Name:              "postgres",
		IsUniqueViolation: isUniqueViolation,
		River:             riverdatabasesql.New(db),
		ResetJobsSQL:      `UPDATE river_job SET state = 'available' WHERE state = 'running' AND attempted_by[array_length(attempted_by, 1)] = $1`,
		SkipLocked:        " FOR UPDATE SKIP LOCKED",
	}, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
