package sessionlock

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
)

// The statements a deferred decryption's writes become, one per written row, each doing what the
// named method of whatsmeow's go.mau.fi/whatsmeow/store/sqlstore.SQLStore does (same table, key
// columns and ON CONFLICT clause). %[1]s is the parameter holding SQLStore.JID ($1 in a statement
// of the device's own), %[2]s on the row's parameters.
const (
	// SQLStore.PutSession (putSessionQuery).
	batchPutSession = `INSERT INTO whatsmeow_sessions (our_jid, their_id, session) VALUES (%[1]s, %[2]s, %[3]s)
		ON CONFLICT (our_jid, their_id) DO UPDATE SET session=excluded.session`
	// SQLStore.DeleteSession (deleteSessionQuery).
	batchDeleteSession = `DELETE FROM whatsmeow_sessions WHERE our_jid=%[1]s AND their_id=%[2]s`
	// SQLStore.PutIdentity (putIdentityQuery).
	batchPutIdentity = `INSERT INTO whatsmeow_identity_keys (our_jid, their_id, identity) VALUES (%[1]s, %[2]s, %[3]s)
		ON CONFLICT (our_jid, their_id) DO UPDATE SET identity=excluded.identity`
	// SQLStore.DeleteIdentity, which runs deleteAllIdentitiesQuery with the address as the LIKE
	// pattern (a Signal address holds no % or _, so it matches that address only).
	batchDeleteIdentity = `DELETE FROM whatsmeow_identity_keys WHERE our_jid=%[1]s AND their_id LIKE %[2]s`
	// SQLStore.PutSenderKey (putSenderKeyQuery).
	batchPutSenderKey = `INSERT INTO whatsmeow_sender_keys (our_jid, chat_id, sender_id, sender_key) VALUES (%[1]s, %[2]s, %[3]s, %[4]s)
		ON CONFLICT (our_jid, chat_id, sender_id) DO UPDATE SET sender_key=excluded.sender_key`
	// SQLStore.RemovePreKey (deletePreKeyQuery; the prekey table's owner column is jid).
	batchRemovePreKey = `DELETE FROM whatsmeow_pre_keys WHERE jid=%[1]s AND key_id=%[2]s`
	// SQLStore.PutBufferedEvent (putBufferedEventQuery): no ON CONFLICT, a second insert of a
	// hash fails. server_timestamp in Unix seconds, insert_timestamp in Unix milliseconds.
	batchPutEvent = `INSERT INTO whatsmeow_event_buffer (our_jid, ciphertext_hash, plaintext, server_timestamp, insert_timestamp)
		VALUES (%[1]s, %[2]s, %[3]s, %[4]s, %[5]s)`
)

// statement builds the one SQL statement that writes bt: each row's statement (parts), the last
// one as the main statement and the others as data-modifying CTEs before it (PostgreSQL runs every
// such CTE exactly once and to completion, whether or not its result is read, and the whole
// statement atomically). An empty query means there is nothing to write. carried are the
// device's pending writes that ride along, for the caller to end their flight (batcher.rode)
// once the statement ran.
func (br *batcher) statement(bt *batch) (query string, args []any, carried taken) {
	parts, carried := br.parts(bt, func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	})
	if len(parts) == 0 {
		return "", nil, carried
	}
	return withCTEs(parts), args, carried
}

// parts returns the statements that write bt, one per row, each adding its parameters with arg
// (which returns the parameter's $n); the first parameter added holds SQLStore.JID, so in a
// statement of its own it is $1. Rows come in a fixed order (sessions, identities, sender keys,
// prekeys by key, then events as buffered) so that two statements lock rows they share in the
// same order. When bt writes anything, the device's pending writes (pending.go) ride along as
// more parts, returned in carried.
func (br *batcher) parts(bt *batch, arg func(any) string) (parts []string, carried taken) {
	bt.lock.Lock()
	defer bt.lock.Unlock()
	if bt.emptyLocked() {
		return nil, carried
	}
	jid := arg(br.jid)
	for _, address := range slices.Sorted(maps.Keys(bt.sessions)) {
		if rec := bt.sessions[address]; rec != nil {
			parts = append(parts, fmt.Sprintf(batchPutSession, jid, arg(address), arg(*rec)))
		} else {
			parts = append(parts, fmt.Sprintf(batchDeleteSession, jid, arg(address)))
		}
	}
	for _, address := range slices.Sorted(maps.Keys(bt.identities)) {
		if key := bt.identities[address]; key != nil {
			parts = append(parts, fmt.Sprintf(batchPutIdentity, jid, arg(address), arg(key[:])))
		} else {
			parts = append(parts, fmt.Sprintf(batchDeleteIdentity, jid, arg(address)))
		}
	}
	senders := slices.SortedFunc(maps.Keys(bt.senderKeys), func(a, b senderKeyID) int {
		return cmp.Or(cmp.Compare(a.group, b.group), cmp.Compare(a.user, b.user))
	})
	for _, id := range senders {
		parts = append(parts, fmt.Sprintf(batchPutSenderKey, jid, arg(id.group), arg(id.user), arg(bt.senderKeys[id])))
	}
	for _, id := range slices.Sorted(maps.Keys(bt.preKeys)) {
		parts = append(parts, fmt.Sprintf(batchRemovePreKey, jid, arg(int64(id))))
	}
	carried = br.riding()
	parts = append(parts, carried.parts(jid, arg)...)
	for _, e := range bt.events {
		parts = append(parts, fmt.Sprintf(batchPutEvent, jid, arg(e.hash[:]), arg(e.plaintext), arg(e.server.Unix()), arg(e.insertMS)))
	}
	return parts, carried
}

// write runs bt's statement (nothing when bt is empty) outside any transaction of ctx: one round
// trip. On error nothing was written, unless the error came after the server committed (a lost
// connection), which a real transaction's COMMIT shares.
func (br *batcher) write(ctx context.Context, bt *batch) error {
	query, args, carried := br.statement(bt)
	if query == "" {
		return nil
	}
	_, err := br.db.Exec(ctx, query, args...)
	br.rode(carried, err)
	return err
}
