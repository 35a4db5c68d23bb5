package sessionlock

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow/util/keys"
)

// One-time prekeys made in one statement (PostgreSQL only).
//
// whatsmeow's SQL store makes the one-time prekeys it uploads (SQLStore.GetOrGenPreKeys, from
// Client.uploadPreKeys) one INSERT at a time: 812 round trips when a device first connects after
// pairing, 50 whenever the server runs low. preKeyStore.GetOrGenPreKeys reads the keys made and
// not uploaded yet as whatsmeow does, makes the missing ones with the same IDs (from the highest
// stored plus one) and stores them with one multi-row INSERT of whatsmeow's columns, so that a
// login's first connection costs three statements instead of 814.

// preKeyBatch is how many keys one INSERT stores at most (two parameters each, well under
// PostgreSQL's 65,535 parameters per statement).
const preKeyBatch = 1000

// getOrGenPreKeys returns count prekeys not uploaded yet, making and storing the missing ones;
// the caller holds p.lock.
func (p *preKeyStore) getOrGenPreKeys(ctx context.Context, count uint32) ([]*keys.PreKey, error) {
	br := p.batcher
	rows, err := br.db.Query(ctx, `SELECT key_id, key FROM whatsmeow_pre_keys WHERE jid=$1 AND uploaded=false ORDER BY key_id LIMIT $2`, br.jid, count)
	if err != nil {
		return nil, fmt.Errorf("failed to query existing prekeys: %w", err)
	}
	var got []*keys.PreKey
	for rows.Next() {
		var id uint32
		var priv []byte
		if err = rows.Scan(&id, &priv); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("failed to read prekey: %w", err)
		}
		if len(priv) != 32 {
			_ = rows.Close()
			return nil, errors.New("failed to read prekey: private key is not 32 bytes")
		}
		got = append(got, &keys.PreKey{KeyPair: *keys.NewKeyPairFromPrivateKey([32]byte(priv)), KeyID: id})
	}
	if err = rows.Err(); err != nil {
		return nil, fmt.Errorf("failed to query existing prekeys: %w", err)
	}
	if uint32(len(got)) >= count {
		return got, nil
	}
	var last sql.NullInt64
	if err = br.db.QueryRow(ctx, `SELECT MAX(key_id) FROM whatsmeow_pre_keys WHERE jid=$1`, br.jid).Scan(&last); err != nil {
		return nil, fmt.Errorf("failed to query next prekey ID: %w", err)
	}
	next := uint32(last.Int64) + 1
	made := make([]*keys.PreKey, count-uint32(len(got)))
	for i := range made {
		made[i] = keys.NewPreKey(next + uint32(i))
	}
	for start := 0; start < len(made); start += preKeyBatch {
		chunk := made[start:min(start+preKeyBatch, len(made))]
		args := make([]any, 0, 1+2*len(chunk))
		args = append(args, br.jid)
		var insert strings.Builder
		insert.WriteString("INSERT INTO whatsmeow_pre_keys (jid, key_id, key, uploaded) VALUES ")
		for i, key := range chunk {
			if i > 0 {
				insert.WriteString(", ")
			}
			args = append(args, key.KeyID, key.Priv[:])
			fmt.Fprintf(&insert, "($1, $%d, $%d, false)", len(args)-1, len(args))
		}
		if _, err = br.db.Exec(ctx, insert.String(), args...); err != nil {
			return nil, fmt.Errorf("failed to store %d prekeys: %w", len(chunk), err)
		}
	}
	return append(got, made...), nil
}
