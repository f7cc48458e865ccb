// Package postgres opens Herald's PostgreSQL store through pgx's
// database/sql adapter, with River's database/sql driver on the same pool,
// so that several Herald nodes can share one database.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

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
		IsUnavailable:     IsUnavailable,
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

// IsUnavailable reports whether err means that PostgreSQL cannot be
// reached or cannot serve: a refused, failed or lost connection, or one of
// the server's "connection exception" (class 08), shutdown (57P01-57P03)
// or too-many-connections (53300) errors.
func IsUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300":
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
