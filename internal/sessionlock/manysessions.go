package sessionlock

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store/sqlstore"
)

// putManyOneStatement stores Signal session records with one statement on PostgreSQL and reports
// whether it did; it does nothing (false) on SQLite, for no records, or when the embedded store is
// not whatsmeow's SQL store.
//
// whatsmeow's SQL store (sqlstore.SQLStore.PutManySessions) writes the records of a message sent to
// several devices (the contact's and the user's own, Client.encryptMessageForDevices through
// store.Device.PutCachedSessions) as a transaction of one upsert per record: BEGIN, N statements,
// COMMIT. A single multi-row INSERT ... ON CONFLICT DO UPDATE with the same columns and conflict
// target (whatsmeow's putSessionQuery) is as atomic and costs one round trip. The addresses of a map
// are distinct, so no row is updated twice by the statement (which PostgreSQL refuses). Inside a
// caller's transaction (ctx carrying one of db) the statement joins it; outside one, the device's
// pending writes (pending.go: the sent message these sessions encrypted, plaintext clears) ride
// along as data-modifying CTEs.
func (s *Store) putManyOneStatement(ctx context.Context, sessions map[string][]byte) (bool, error) {
	inner, ok := s.SessionStore.(*sqlstore.SQLStore)
	if !ok || s.db == nil || s.db.Dialect != dbutil.Postgres || len(sessions) == 0 {
		return false, nil
	}
	addresses := make([]string, 0, len(sessions))
	for addr := range sessions {
		addresses = append(addresses, addr)
	}
	slices.Sort(addresses) // a fixed order: two such statements lock their rows in the same order
	args := make([]any, 0, 1+2*len(addresses))
	args = append(args, inner.JID)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	var carried taken
	var parts []string
	_, inTxn := s.db.Execable(ctx).(dbutil.Transaction)
	if s.batcher != nil && !inTxn {
		carried = s.batcher.riding()
		parts = carried.parts("$1", arg)
	}
	var upsert strings.Builder
	upsert.WriteString("INSERT INTO whatsmeow_sessions (our_jid, their_id, session) VALUES ")
	for i, addr := range addresses {
		if i > 0 {
			upsert.WriteString(", ")
		}
		fmt.Fprintf(&upsert, "($1, %s, %s)", arg(addr), arg(sessions[addr]))
	}
	upsert.WriteString(" ON CONFLICT (our_jid, their_id) DO UPDATE SET session=excluded.session")
	parts = append(parts, upsert.String())
	_, err := s.db.Exec(ctx, withCTEs(parts), args...)
	if s.batcher != nil {
		s.batcher.rode(carried, err)
	}
	if err != nil {
		return true, fmt.Errorf("failed to store %d Signal sessions: %w", len(sessions), err)
	}
	return true, nil
}
