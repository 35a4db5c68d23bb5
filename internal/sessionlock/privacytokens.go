package sessionlock

import (
	"context"
	"database/sql"
	"errors"
	"sync"
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
//
// It also keeps the answers in memory (at most maxKnownPrivacyTokens of them per account), so that
// the next message to the same contact asks the database nothing: the device's tokens change only
// through this store (PutPrivacyTokens when the server or the contact sends one,
// DeleteExpiredPrivacyTokens when whatsmeow prunes them), and each such write forgets every answer
// kept. A look-up that ran while a write was made keeps no answer.
type privacyTokens struct {
	store.PrivacyTokenStore
	batcher *batcher
	lids    store.LIDStore
	// answers are the account's, shared by its device objects (sharedByDevice in knownhashes.go):
	// a write made through an older one is seen by a newer one.
	answers *privacyTokenAnswers
}

// privacyTokenAnswers are the privacy token answers kept for one account.
type privacyTokenAnswers struct {
	lock sync.Mutex
	// known holds earlier answers (nil: no token), keyed by the JID asked for and its counterpart.
	known map[[2]types.JID]*store.PrivacyToken
	// writes counts the writes made through the store.
	writes uint64
}

// privacyTokenAnswersOf holds each account's answers.
var privacyTokenAnswersOf sharedByDevice[privacyTokenAnswers]

// maxKnownPrivacyTokens bounds the answers an account's privacy token store keeps; when it is
// reached they are all forgotten.
const maxKnownPrivacyTokens = 4096

// PutPrivacyTokens stores the tokens (whatsmeow's statement) and forgets the answers kept.
func (p *privacyTokens) PutPrivacyTokens(ctx context.Context, tokens ...store.PrivacyToken) error {
	defer p.answers.forget()
	return p.PrivacyTokenStore.PutPrivacyTokens(ctx, tokens...)
}

// DeleteExpiredPrivacyTokens deletes the tokens older than cutoff (whatsmeow's statement) and
// forgets the answers kept.
func (p *privacyTokens) DeleteExpiredPrivacyTokens(ctx context.Context, cutoff time.Time) (int64, error) {
	defer p.answers.forget()
	return p.PrivacyTokenStore.DeleteExpiredPrivacyTokens(ctx, cutoff)
}

// forget drops the answers kept, after a write (made or failed: either way the table may differ).
func (a *privacyTokenAnswers) forget() {
	a.lock.Lock()
	a.writes++
	clear(a.known)
	a.lock.Unlock()
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
	key := [2]types.JID{user, other.ToNonAD()}
	a := p.answers
	a.lock.Lock()
	known, ok := a.known[key]
	writes := a.writes
	a.lock.Unlock()
	if ok {
		if known == nil {
			return nil, nil
		}
		answer := *known
		return &answer, nil
	}
	found, err := p.lookUp(ctx, user, key[1])
	if err != nil {
		return nil, err
	}
	a.lock.Lock()
	if a.writes == writes {
		if a.known == nil || len(a.known) >= maxKnownPrivacyTokens {
			a.known = make(map[[2]types.JID]*store.PrivacyToken)
		}
		a.known[key] = found
	}
	a.lock.Unlock()
	if found == nil {
		return nil, nil
	}
	answer := *found
	return &answer, nil
}

// lookUp reads the newest token stored under user or other (nil: none).
func (p *privacyTokens) lookUp(ctx context.Context, user, other types.JID) (*store.PrivacyToken, error) {
	token := store.PrivacyToken{User: user}
	var ts int64
	var senderTS sql.NullInt64
	err := p.batcher.db.QueryRow(ctx, getPrivacyTokenQuery, p.batcher.jid, user.String(), other.String()).
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
