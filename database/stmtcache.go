package database

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"

	"github.com/lib/pq"
)

// Prepared statements kept per connection (PostgreSQL only).
//
// lib/pq sends a statement with parameters as an unnamed statement: PostgreSQL parses, analyses and
// plans it again on every execution. For the short statements of the message path (an inbox insert,
// a message map look-up, a decryption's combined write) that is a large share of a backend's CPU:
// measured on a 2-core machine, an inbox insert, a look-up and a mapping insert took 0.79-0.87 ms of
// backend CPU as unnamed statements and 0.46-0.52 ms as named prepared statements, and 1.3-2.2 ms
// against 0.9-1.5 ms of wall time.
//
// stmtCacheConn keeps the named prepared statements of the last stmtCacheSize statement texts run
// with parameters on its connection, least recently used out first (the statement is closed on the
// server then). Executing one is one round trip (Bind, Execute, Sync), as lib/pq's unnamed path with
// binary_parameters is. Statements without parameters (scripts, upgrades, BEGIN) go through lib/pq
// as before, and so does an explicit Prepare (COPY included).
//
// A server that loses a connection's prepared statements behind its back (a pooler such as
// PgBouncer in transaction mode without max_prepared_statements, or a DISCARD ALL) answers
// invalid_sql_statement_name (26000); the connection then stops using prepared statements and, when
// no transaction was open, runs the statement again unnamed. Inside a transaction the error ends
// the transaction as any failed statement does, and the caller sees it once.

// stmtCacheSize is how many prepared statements one connection keeps. Each costs its backend
// server memory for the parsed statement and its plan: about 38 KB for a message map insert with
// its inbox settlement (PostgreSQL 15, pg_backend_memory_contexts), so at most about 2.5 MB per
// connection. The statements of the message paths are a few dozen; the rarer ones and those with a
// variable shape (IN lists, multi-row inserts) take the least recently used places.
const stmtCacheSize = 64

// cachingConnector wraps a lib/pq connector so that its connections keep prepared statements
// (stmtCacheConn).
type cachingConnector struct {
	inner driver.Connector
}

var _ driver.Connector = (*cachingConnector)(nil)

// Connect implements driver.Connector.
func (c *cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newStmtCacheConn(conn), nil
}

// Driver implements driver.Connector.
func (c *cachingConnector) Driver() driver.Driver { return c.inner.Driver() }

// pqConn is what stmtCacheConn needs of lib/pq's connection (its *conn implements all of it).
type pqConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// stmtCacheConn is a lib/pq connection that runs statements with parameters as named prepared
// statements it keeps (see above). database/sql uses a connection from one goroutine at a time, so
// it needs no lock.
type stmtCacheConn struct {
	pqConn
	stmts map[string]*list.Element // statement text -> element of order holding a *cachedStmt
	order *list.List               // most recently used first
	// off is set once the server lost a prepared statement: the connection runs everything unnamed.
	off  bool
	inTx bool
}

type cachedStmt struct {
	query string
	stmt  driver.Stmt
}

// newStmtCacheConn wraps conn; a connection that is not lib/pq's is returned as it is.
func newStmtCacheConn(conn driver.Conn) driver.Conn {
	inner, ok := conn.(pqConn)
	if !ok {
		return conn
	}
	return &stmtCacheConn{pqConn: inner, stmts: make(map[string]*list.Element), order: list.New()}
}

// stmt returns the connection's prepared statement for query, preparing it (and closing the least
// recently used one beyond stmtCacheSize) when it has none.
func (c *stmtCacheConn) stmt(ctx context.Context, query string) (driver.Stmt, error) {
	if el, ok := c.stmts[query]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*cachedStmt).stmt, nil
	}
	st, err := c.pqConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = c.order.PushFront(&cachedStmt{query: query, stmt: st})
	for c.order.Len() > stmtCacheSize {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		old := oldest.Value.(*cachedStmt)
		delete(c.stmts, old.query)
		// A failed close leaves a statement on the server until the connection ends; lib/pq
		// marks a connection whose failure broke it as bad itself.
		_ = old.stmt.Close()
	}
	return st, nil
}

// lost reports whether err says the server does not have the prepared statement (26000), and if so
// stops the connection from using prepared statements.
func (c *stmtCacheConn) lost(err error) bool {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "26000" {
		return false
	}
	c.off = true
	c.stmts = make(map[string]*list.Element)
	c.order.Init()
	return true
}

// runPrepared runs query with args as the connection's prepared statement through named, or
// through lib/pq's unnamed path (unnamed) when it has no parameters, the connection stopped using
// prepared statements, or the server lost them outside a transaction.
func runPrepared[T any](c *stmtCacheConn, ctx context.Context, query string, args []driver.NamedValue,
	unnamed func() (T, error), named func(driver.Stmt) (T, error)) (T, error) {
	if len(args) == 0 || c.off {
		return unnamed()
	}
	st, err := c.stmt(ctx, query)
	if err != nil {
		var zero T
		return zero, err
	}
	res, err := named(st)
	if err != nil && c.lost(err) && !c.inTx {
		return unnamed()
	}
	return res, err
}

// ExecContext implements driver.ExecerContext.
func (c *stmtCacheConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return runPrepared(c, ctx, query, args,
		func() (driver.Result, error) { return c.pqConn.ExecContext(ctx, query, args) },
		func(st driver.Stmt) (driver.Result, error) { return st.(driver.StmtExecContext).ExecContext(ctx, args) })
}

// QueryContext implements driver.QueryerContext.
func (c *stmtCacheConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return runPrepared(c, ctx, query, args,
		func() (driver.Rows, error) { return c.pqConn.QueryContext(ctx, query, args) },
		func(st driver.Stmt) (driver.Rows, error) { return st.(driver.StmtQueryContext).QueryContext(ctx, args) })
}

// BeginTx implements driver.ConnBeginTx.
func (c *stmtCacheConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.pqConn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.inTx = true
	return &stmtCacheTx{inner: tx, conn: c}, nil
}

// Begin implements driver.Conn.
func (c *stmtCacheConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

type stmtCacheTx struct {
	inner driver.Tx
	conn  *stmtCacheConn
}

func (t *stmtCacheTx) Commit() error {
	t.conn.inTx = false
	return t.inner.Commit()
}

func (t *stmtCacheTx) Rollback() error {
	t.conn.inTx = false
	return t.inner.Rollback()
}
