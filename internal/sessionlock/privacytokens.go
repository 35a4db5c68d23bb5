package sessionlock

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

// A privacy token look-up without planning (PostgreSQL only).
//
// whatsmeow looks up the contact's privacy token (tctoken) before every message it sends to a
// contact (Client.ensureTCToken). SQLStore.GetPrivacyToken finds a token stored under the JID or
// under its phone number or LID counterpart with one statement whose CASE picks the direction of
// the whatsmeow_lid_map look-up from the parameter; PostgreSQL cannot fold that CASE in a generic
// plan, so it plans the statement again on every execution: 0.3 ms of planning and 0.1 ms of
// execution per message sent, measured with pg_stat_statements under the benchmark's load.
//
// privacyTokens answers the same question with the counterpart taken from the device's LID store
// (whatsmeow's CachedLIDMap, which keeps the mappings in memory) and a plain statement over the
// one or two JIDs, which PostgreSQL plans once per connection. Storing and pruning tokens are
// whatsmeow's.
type privacyTokens struct {
	store.PrivacyTokenStore
	batcher *batcher
	lids    store.LIDStore
}

// getPrivacyTokenQuery returns the newest token stored under $2 or $3 (the same JID twice when it
// has no counterpart), like SQLStore.GetPrivacyToken.
const getPrivacyTokenQuery = `SELECT token, timestamp, sender_timestamp FROM whatsmeow_privacy_tokens
	WHERE our_jid=$1 AND their_jid IN ($2, $3) ORDER BY timestamp DESC LIMIT 1`

// GetPrivacyToken implements store.PrivacyTokenStore: the token stored for user (device part
// ignored) or for its phone number or LID counterpart, nil when there is none.
func (p *privacyTokens) GetPrivacyToken(ctx context.Context, user types.JID) (*store.PrivacyToken, error) {
	user = user.ToNonAD()
	var other types.JID
	var err error
	switch user.Server {
	case types.HiddenUserServer:
		other, err = p.lids.GetPNForLID(ctx, user)
	case types.DefaultUserServer:
		other, err = p.lids.GetLIDForPN(ctx, user)
	}
	if err != nil {
		return nil, err
	}
	if other.IsEmpty() {
		other = user
	}
	token := store.PrivacyToken{User: user}
	var ts int64
	var senderTS sql.NullInt64
	err = p.batcher.db.QueryRow(ctx, getPrivacyTokenQuery, p.batcher.jid, user.String(), other.ToNonAD().String()).
		Scan(&token.Token, &ts, &senderTS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	token.Timestamp = time.Unix(ts, 0)
	if senderTS.Valid {
		token.SenderTimestamp = time.Unix(senderTS.Int64, 0)
	}
	return &token, nil
}
