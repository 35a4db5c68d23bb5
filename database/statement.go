package database

import (
	"context"
	"fmt"
	"regexp"
	"strconv"

	"go.mau.fi/util/dbutil"
)

// Statement is one SQL statement and its arguments, with placeholders numbered from $1.
type Statement struct {
	Query string
	Args  []any
}

// placeholder matches a numbered placeholder ($1, $2, ...).
var placeholder = regexp.MustCompile(`\$(\d+)`)

// shifted returns the statement's query with every placeholder $n renumbered $(n+by), for use after
// by arguments of another statement.
func (s Statement) shifted(by int) string {
	return placeholder.ReplaceAllStringFunc(s.Query, func(p string) string {
		n, _ := strconv.Atoi(p[1:])
		return "$" + strconv.Itoa(n+by)
	})
}

// execWith runs query with args and also in one atomic step. On PostgreSQL that is a single
// statement (also as a data-modifying WITH clause before query, which PostgreSQL runs exactly
// once whether or not query reads it): one round trip and one implicit transaction instead of
// BEGIN, two statements and COMMIT. On SQLite, which has no data-modifying WITH, it is a
// transaction (local, so its round trips cost little). also must be an INSERT, UPDATE or DELETE
// of another table than query's (on PostgreSQL both see one snapshot), with no placeholder inside
// a literal; query must have no WITH clause of its own and use exactly $1 to $len(args). Inside a
// caller's transaction on SQLite a failure of also leaves query's write to the caller's rollback.
func execWith(ctx context.Context, db *dbutil.Database, query string, args []any, also Statement) error {
	if db.Dialect == dbutil.Postgres {
		combined := fmt.Sprintf("WITH settled AS (%s) %s", also.shifted(len(args)), query)
		_, err := db.Exec(ctx, combined, append(append(make([]any, 0, len(args)+len(also.Args)), args...), also.Args...)...)
		return err
	}
	return db.DoTxn(ctx, nil, func(ctx context.Context) error {
		if _, err := db.Exec(ctx, query, args...); err != nil {
			return err
		}
		_, err := db.Exec(ctx, also.Query, also.Args...)
		return err
	})
}

// bound returns the statement's query with every placeholder $n replaced by arg(Args[n-1]), for
// use inside another statement whose parameters arg adds. Args must hold every $n the query uses.
func (s Statement) bound(arg func(v any) string) string {
	return placeholder.ReplaceAllStringFunc(s.Query, func(p string) string {
		n, _ := strconv.Atoi(p[1:])
		return arg(s.Args[n-1])
	})
}
