package sessionlock

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store/sqlstore"
)

// putManyOneStatement stores several Signal session records with one statement on PostgreSQL and
// reports whether it did; it does nothing (false) on SQLite, for fewer than two records, or when
// the embedded store is not whatsmeow's SQL store.
//
// whatsmeow's SQL store (sqlstore.SQLStore.PutManySessions) writes the records of a message sent to
// several devices (the contact's and the user's own, Client.encryptMessageForDevices through
// store.Device.PutCachedSessions) as a transaction of one upsert per record: BEGIN, N statements,
// COMMIT. A single multi-row INSERT ... ON CONFLICT DO UPDATE with the same columns and conflict
// target (whatsmeow's putSessionQuery) is as atomic and costs one round trip. The addresses of a map
// are distinct, so no row is updated twice by the statement (which PostgreSQL refuses). Inside a
// caller's transaction (ctx carrying one of db) the statement joins it.
func (s *Store) putManyOneStatement(ctx context.Context, sessions map[string][]byte) (bool, error) {
	inner, ok := s.SessionStore.(*sqlstore.SQLStore)
	if !ok || s.db == nil || s.db.Dialect != dbutil.Postgres || len(sessions) < 2 {
		return false, nil
	}
	addresses := make([]string, 0, len(sessions))
	for addr := range sessions {
		addresses = append(addresses, addr)
	}
	slices.Sort(addresses) // a fixed order: two such statements lock their rows in the same order
	var query strings.Builder
	query.WriteString("INSERT INTO whatsmeow_sessions (our_jid, their_id, session) VALUES ")
	args := make([]any, 0, 1+2*len(addresses))
	args = append(args, inner.JID)
	for i, addr := range addresses {
		if i > 0 {
			query.WriteString(", ")
		}
		fmt.Fprintf(&query, "($1, $%d, $%d)", len(args)+1, len(args)+2)
		args = append(args, addr, sessions[addr])
	}
	query.WriteString(" ON CONFLICT (our_jid, their_id) DO UPDATE SET session=excluded.session")
	_, err := s.db.Exec(ctx, query.String(), args...)
	if err != nil {
		return true, fmt.Errorf("failed to store %d Signal sessions: %w", len(sessions), err)
	}
	return true, nil
}
