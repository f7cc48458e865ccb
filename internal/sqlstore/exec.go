package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// maxCachedStatements bounds the prepared-statement cache.
const maxCachedStatements = 512

// stmtCache keeps prepared statements by query text. SQLite spends much of
// a small statement's time parsing it; PostgreSQL's driver (pgx) caches
// statements itself, so the cache is used on SQLite only.
//
// A statement is prepared on the pool, never inside a transaction: with
// SQLite's single connection, preparing on the pool while a transaction
// holds the connection would wait for itself. A query first seen inside a
// transaction runs unprepared and is prepared in the background once the
// connection is free.
type stmtCache struct {
	db      *sql.DB
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	pending map[string]bool
}

func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[q]
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, pending: map[string]bool{}}
}

// prepare prepares q on the cache's pool and caches it, unless the cache is
// full.
func (c *stmtCache) prepare(ctx context.Context, q string) *sql.Stmt {
	c.mu.Lock()
	if st := c.stmts[q]; st != nil {
		c.mu.Unlock()
		return st
	}
	if len(c.stmts) >= maxCachedStatements {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.stmts[q]; old != nil {
		st.Close()
		return old
	}
	c.stmts[q] = st
	return st
}

// prepareLater prepares q in the background, once.
func (c *stmtCache) prepareLater(q string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[q] || c.stmts[q] != nil || len(c.stmts) >= maxCachedStatements {
		return
	}
	c.pending[q] = true
	go c.prepare(context.Background(), q)
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}

// maxRebound bounds the queries whose SQLite form is kept (give or take
// those rewritten at the moment it is reached): Herald's statements are a
// few hundred texts, multi-row ones one per row count.
const maxRebound = 2048

// maxReboundLen bounds the length of a query whose SQLite form is kept.
// Longer ones are multi-row statements, built anew for each call (their
// rewriting costs about what building them does), whose many row counts
// would keep megabytes of text.
const maxReboundLen = 4096

// reboundCache keeps the SQLite form of queries by their text: rewriting
// scans and copies the text, and a batch runs the same insert once per row.
type reboundCache struct {
	m sync.Map // query text → its SQLite form
	n atomic.Int32
}

// rebind rewrites the $N parameters of q for SQLite (sqliteParams).
func (s *DB) rebind(q string) string {
	if s.dialect.Name != "sqlite" {
		return q
	}
	if r, ok := s.rebound.m.Load(q); ok {
		return r.(string)
	}
	r := q
	if strings.Contains(q, "$") {
		r = sqliteParams(q)
	}
	if len(q) <= maxReboundLen && s.rebound.n.Load() < maxRebound {
		if _, loaded := s.rebound.m.LoadOrStore(q, r); !loaded {
			s.rebound.n.Add(1)
		}
	}
	return r
}

// sqliteParams rewrites PostgreSQL's $N parameters for SQLite. SQLite would
// take $N for a named parameter and find each reference by a linear search,
// which makes long multi-row statements quadratic to parse; ?N it resolves
// by number. But it still keeps a name for each ?N, and the driver asks for
// every parameter's name when it binds one, again by a linear search: a
// statement of 256 rows of 7 values spent half its time binding. So when
// every parameter appears once and in order ($1, $2, ...) they become
// anonymous ?, which have no names; otherwise ?N.
func sqliteParams(q string) string {
	sequential, next := true, 1
	forParamsAt(q, func(start, end int) {
		if n := q[start+1 : end]; sequential {
			v, err := strconv.Atoi(n)
			sequential = err == nil && v == next && n[0] != '0'
		}
		next++
	})
	var b strings.Builder
	b.Grow(len(q))
	last := 0
	forParamsAt(q, func(start, end int) {
		b.WriteString(q[last:start])
		b.WriteByte('?')
		if !sequential {
			b.WriteString(q[start+1 : end])
		}
		last = end
	})
	b.WriteString(q[last:])
	return b.String()
}

// forParamsAt calls fn with the bounds of each $N parameter of q, in order:
// q[start] is the $, q[start+1:end] the digits. A $ not followed by a digit
// is not a parameter.
func forParamsAt(q string, fn func(start, end int)) {
	for i := 0; i < len(q); i++ {
		if q[i] != '$' {
			continue
		}
		j := i + 1
		for j < len(q) && q[j] >= '0' && q[j] <= '9' {
			j++
		}
		if j > i+1 {
			fn(i, j)
			i = j - 1
		}
	}
}

// pool returns the pool and statement cache q runs on: reads outside a
// transaction go to the read pool when the store has one (SQLite in WAL mode
// lets readers run beside the single writer).
func (s *DB) pool(tx *sql.Tx, q string) (*sql.DB, *stmtCache) {
	if tx == nil && s.rdb != nil && strings.HasPrefix(q, "SELECT") {
		return s.rdb, s.rstmts
	}
	return s.db, s.stmts
}

// stmt returns a prepared statement for q bound to tx (or the pool when tx
// is nil), or nil when q should run unprepared.
func (s *DB) stmt(ctx context.Context, tx *sql.Tx, cache *stmtCache, q string) *sql.Stmt {
	if cache == nil {
		return nil
	}
	st := cache.get(q)
	if st == nil {
		if tx != nil {
			cache.prepareLater(q)
			return nil
		}
		if st = cache.prepare(ctx, q); st == nil {
			return nil
		}
	}
	if tx != nil {
		return tx.StmtContext(ctx, st)
	}
	return st
}

// execCount runs a statement as exec does and returns how many rows it
// changed.
func (s *DB) execCount(ctx context.Context, tx *sql.Tx, q string, args ...any) (int64, error) {
	res, err := s.exec(ctx, tx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// exec runs q on tx, or on the pool when tx is nil.
func (s *DB) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	q = s.rebind(q)
	db, cache := s.pool(tx, q)
	if st := s.stmt(ctx, tx, cache, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	if tx != nil {
		return tx.ExecContext(ctx, q, args...)
	}
	return db.ExecContext(ctx, q, args...)
}

// query runs q on tx, or on the pool when tx is nil.
func (s *DB) query(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	q = s.rebind(q)
	db, cache := s.pool(tx, q)
	if st := s.stmt(ctx, tx, cache, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	if tx != nil {
		return tx.QueryContext(ctx, q, args...)
	}
	return db.QueryContext(ctx, q, args...)
}

// queryRow runs q on tx, or on the pool when tx is nil.
func (s *DB) queryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	q = s.rebind(q)
	db, cache := s.pool(tx, q)
	if st := s.stmt(ctx, tx, cache, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	if tx != nil {
		return tx.QueryRowContext(ctx, q, args...)
	}
	return db.QueryRowContext(ctx, q, args...)
}

// inText returns a condition matching a column against text values passed
// as one JSON array in parameter $n ("IN (...)" on SQLite, "= ANY(...)" on
// PostgreSQL), so that a list of any length is one statement.
func (s *DB) inText(n int) string {
	if s.dialect.Name == "sqlite" {
		return "IN (SELECT value FROM json_each($" + itoa(n) + "))"
	}
	// "= ANY(ARRAY(...))" rather than "IN (SELECT ...)": PostgreSQL plans it
	// as index lookups, where the IN form estimates 100 rows and may scan.
	return "= ANY(ARRAY(SELECT json_array_elements_text(CAST($" + itoa(n) + " AS json))))"
}

// inInt is inText for integer values.
func (s *DB) inInt(n int) string {
	if s.dialect.Name == "sqlite" {
		return s.inText(n)
	}
	return "= ANY(ARRAY(SELECT CAST(json_array_elements_text(CAST($" + itoa(n) + " AS json)) AS BIGINT)))"
}

// intRows is a subquery of one row per integer value passed as a JSON array
// in parameter $n, in a column named id: the rows a correlated subquery is
// run for, one value at a time.
func (s *DB) intRows(n int) string {
	if s.dialect.Name == "sqlite" {
		return "(SELECT value AS id FROM json_each($" + itoa(n) + "))"
	}
	return "(SELECT CAST(json_array_elements_text(CAST($" + itoa(n) + " AS json)) AS BIGINT) AS id)"
}

// jsonList encodes values as a JSON array argument for inText and inInt.
func jsonList[T any](values []T) string {
	if len(values) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(values)
	return string(b)
}

// insertRows inserts rows of cols values each. On PostgreSQL, several rows
// go in one statement that unnests a typed array per column (one round
// trip and one statement shape whatever the number of rows), or, when a
// column's values are of a type without an array here, in multi-row
// statements per chunk; on SQLite, one prepared single-row statement per
// row (no parsing, no round trips to save). prefix ends with "VALUES ".
func (s *DB) insertRows(ctx context.Context, tx *sql.Tx, prefix, suffix string, cols int, args []any) error {
	return s.execAll(ctx, tx, s.insertStatements(prefix, suffix, cols, args))
}

// statement is a statement with its arguments.
type statement struct {
	q    string
	args []any
}

// execAll runs sts on tx, one after another, up to the first error.
func (s *DB) execAll(ctx context.Context, tx *sql.Tx, sts []statement) error {
	for _, st := range sts {
		if _, err := s.exec(ctx, tx, st.q, st.args...); err != nil {
			return err
		}
	}
	return nil
}

// insertStatements returns the statements insertRows runs.
func (s *DB) insertStatements(prefix, suffix string, cols int, args []any) []statement {
	rows := len(args) / cols
	var out []statement
	if s.dialect.Name == "sqlite" {
		q := prefix + valuesList(1, cols) + suffix
		for r := 0; r < rows; r++ {
			out = append(out, statement{q, args[r*cols : (r+1)*cols]})
		}
		return out
	}
	if rows > 1 {
		if arrays, types, ok := columnArrays(args, cols); ok {
			casts := make([]string, cols)
			for i, t := range types {
				casts[i] = "CAST($" + itoa(i+1) + " AS " + t + "[])"
			}
			q := strings.TrimSuffix(prefix, "VALUES ") + "SELECT * FROM unnest(" + strings.Join(casts, ", ") + ")" + suffix
			return []statement{{q, arrays}}
		}
	}
	_ = forChunks(rows, func(start, n int) error {
		out = append(out, statement{prefix + valuesList(n, cols) + suffix, args[start*cols : (start+n)*cols]})
		return nil
	})
	return out
}

// columnArrays turns rows of cols values (args, row after row) into one
// typed slice per column and the column's PostgreSQL type. It reports
// false when a column holds a value of another type than the first row's,
// or of a type it does not know.
func columnArrays(args []any, cols int) (arrays []any, types []string, ok bool) {
	rows := len(args) / cols
	arrays, types = make([]any, cols), make([]string, cols)
	for c := 0; c < cols; c++ {
		switch args[c].(type) {
		case int64, int:
			a := make([]int64, rows)
			for r := range a {
				switch v := args[r*cols+c].(type) {
				case int64:
					a[r] = v
				case int:
					a[r] = int64(v)
				default:
					return nil, nil, false
				}
			}
			arrays[c], types[c] = a, "BIGINT"
		case string:
			a := make([]string, rows)
			for r := range a {
				if a[r], ok = args[r*cols+c].(string); !ok {
					return nil, nil, false
				}
			}
			arrays[c], types[c] = a, "TEXT"
		case []byte:
			a := make([][]byte, rows)
			for r := range a {
				if a[r], ok = args[r*cols+c].([]byte); !ok {
					return nil, nil, false
				}
			}
			arrays[c], types[c] = a, "BYTEA"
		case bool:
			a := make([]bool, rows)
			for r := range a {
				if a[r], ok = args[r*cols+c].(bool); !ok {
					return nil, nil, false
				}
			}
			arrays[c], types[c] = a, "BOOLEAN"
		default:
			return nil, nil, false
		}
	}
	return arrays, types, true
}

// insertReturning is insertRows for a statement whose suffix ends in a
// RETURNING clause: scan is called for each row it returns.
func (s *DB) insertReturning(ctx context.Context, tx *sql.Tx, prefix, suffix string, cols int, args []any, scan func(*sql.Rows) error) error {
	run := func(q string, args []any) error {
		rows, err := s.query(ctx, tx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	rows := len(args) / cols
	if s.dialect.Name == "sqlite" {
		q := prefix + valuesList(1, cols) + suffix
		for r := 0; r < rows; r++ {
			if err := run(q, args[r*cols:(r+1)*cols]); err != nil {
				return err
			}
		}
		return nil
	}
	return forChunks(rows, func(start, n int) error {
		return run(prefix+valuesList(n, cols)+suffix, args[start*cols:(start+n)*cols])
	})
}

// maxChunkRows bounds the rows of one multi-row statement.
const maxChunkRows = 256

// forChunks calls fn for consecutive chunks covering rows, each a power of
// two of at most maxChunkRows rows. PostgreSQL's driver prepares and keeps
// every distinct statement on every connection, so chunk sizes are kept to
// nine shapes rather than one per batch size.
func forChunks(rows int, fn func(start, n int) error) error {
	for start := 0; start < rows; {
		n := min(maxChunkRows, 1<<(bits.Len(uint(rows-start))-1))
		if err := fn(start, n); err != nil {
			return err
		}
		start += n
	}
	return nil
}
