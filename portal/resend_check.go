package portal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/hserr"
)

// TxnIDKey is the content field in which every event the bridge sends with a transaction ID
// carries that ID, so that the bridge can find the event again after a send whose outcome it never
// learnt. The homeserver's own deduplication by transaction ID does not cover that case: Dendrite
// caches a transaction's response only when the request completes, so a request cut off by a
// bridge crash or a timeout may have stored the event without remembering the transaction.
const TxnIDKey = "com.github.matrix-whatsapp.txn_id"

// resendLookback is how many of a room's latest events are searched for an event sent before.
const resendLookback = 50

// resendPoll is how often a send that may have happened already looks for its event again while
// the homeserver may still be storing it (WithMaybeSent's lookUntil).
const resendPoll = time.Second

type maybeSentKey struct{}

// maybeSentMark is what WithMaybeSent puts into a ctx.
type maybeSentMark struct{ lookUntil time.Time }

// WithMaybeSent marks ctx as handling an event that an earlier attempt (possibly by a process that
// crashed) may have sent to Matrix already: sends with a transaction ID then first look for the
// event in the room (see TxnIDKey) and reuse it. A request cut off by a crash may still be stored
// by the homeserver seconds later (Dendrite, under load, was seen to show such an event in the
// room more than five seconds after the cut): until lookUntil, a send that does not find its event
// looks again every resendPoll before it sends. A zero lookUntil looks once.
func WithMaybeSent(ctx context.Context, lookUntil time.Time) context.Context {
	return context.WithValue(ctx, maybeSentKey{}, maybeSentMark{lookUntil: lookUntil})
}

// maybeSent reports whether ctx is marked by WithMaybeSent, and until when to look.
func maybeSent(ctx context.Context) (bool, time.Time) {
	mark, ok := ctx.Value(maybeSentKey{}).(maybeSentMark)
	return ok, mark.lookUntil
}

// withTxnMarker returns content with TxnIDKey set to txnID. Content of a shape it does not know is
// returned unchanged.
func withTxnMarker(content any, txnID string) any {
	switch c := content.(type) {
	case map[string]any:
		out := make(map[string]any, len(c)+1)
		for k, v := range c {
			out[k] = v
		}
		out[TxnIDKey] = txnID
		return out
	case *event.Content:
		return withTxnMarker(*c, txnID)
	case event.Content:
		if c.Parsed == nil && len(c.Raw) == 0 {
			return withTxnMarker(json.RawMessage(c.VeryRaw), txnID)
		}
		if len(c.Raw) == 0 {
			return withTxnMarker(c.Parsed, txnID)
		}
		raw := make(map[string]any, len(c.Raw)+1)
		for k, v := range c.Raw {
			raw[k] = v
		}
		raw[TxnIDKey] = txnID
		return &event.Content{Raw: raw, Parsed: c.Parsed, VeryRaw: nil}
	case json.RawMessage:
		var m map[string]any
		if json.Unmarshal(c, &m) != nil || m == nil {
			return content
		}
		return withTxnMarker(m, txnID)
	default:
		if out, ok := appendTxnMarker(content, txnID); ok {
			return out
		}
		return &event.Content{Raw: map[string]any{TxnIDKey: txnID}, Parsed: content}
	}
}

// appendTxnMarker returns content (a struct, such as *event.MessageEventContent) encoded as a JSON
// object with TxnIDKey added as its last member, and whether that worked (content must encode to
// an object). It is what event.Content with the marker in Raw would send, without the decoding
// and second encoding mautrix's Content.MarshalJSON does to merge Raw into the parsed content
// (3 % of the bridge's CPU in a profile on a busy machine).
func appendTxnMarker(content any, txnID string) (json.RawMessage, bool) {
	encoded, err := json.Marshal(content)
	if err != nil || len(encoded) < 2 || encoded[0] != '{' || encoded[len(encoded)-1] != '}' {
		return nil, false
	}
	key, _ := json.Marshal(TxnIDKey)
	value, err := json.Marshal(txnID)
	if err != nil {
		return nil, false
	}
	out := make(json.RawMessage, 0, len(encoded)+len(key)+len(value)+2)
	out = append(out, encoded[:len(encoded)-1]...)
	if len(encoded) > 2 {
		out = append(out, ',')
	}
	out = append(out, key...)
	out = append(out, ':')
	out = append(out, value...)
	return append(out, '}'), true
}

// ErrLookUnanswered is wrapped by a send's error when it was not made because the homeserver did
// not answer the look for an earlier attempt's event (see findSentUntil). The send is to be tried
// again once the homeserver answers, as one whose earlier attempt's outcome is unknown.
var ErrLookUnanswered = errors.New("the homeserver did not answer the look for an earlier attempt's event")

// findSentUntil is findSent, repeated every resendPoll until lookUntil while it finds nothing.
//
// With a lookUntil (an earlier attempt got no clear answer, or a crashed process may have sent
// the event), a read the homeserver does not answer ends the look with an error wrapping
// ErrLookUnanswered and the read's error, instead of letting the caller send: the earlier
// attempt's event may be in the room, or be stored as soon as the homeserver is back, and the time
// to look would otherwise run out while the homeserver is away. Dendrite, stopped mid-request,
// answers 500, then stores the event from its on-disk stream after its restart; a retry whose look
// ran out during the outage sent the event a second time. Whether the homeserver is away is asked
// of it when a read fails: a failed read of the room while GET /_matrix/client/versions answers
// (a room the homeserver cannot serve, a read refused with 403) is a room that cannot be checked,
// and the look goes on until lookUntil as for a room without the event. Without a lookUntil the
// room is read once, and an unreadable room is sent to.
func findSentUntil(ctx context.Context, client *mautrix.Client, bySync bool, roomID id.RoomID, txnID string, lookUntil time.Time) (id.EventID, error) {
	for {
		evtID, err := findSent(ctx, client, bySync, roomID, txnID)
		if evtID != "" {
			return evtID, nil
		}
		if err != nil && !lookUntil.IsZero() && ctx.Err() == nil {
			if hserr.Unanswered(err) {
				// Also while the homeserver starts: its rooms may fail to read while it answers
				// other requests, and the earlier attempt's event may show up any moment.
				return "", fmt.Errorf("%w: %w", ErrLookUnanswered, err)
			}
			if _, probeErr := client.MakeRequest(ctx, http.MethodGet, client.BuildClientURL("versions"), nil, nil); probeErr != nil {
				return "", fmt.Errorf("%w: %w (and %w)", ErrLookUnanswered, err, probeErr)
			}
		}
		wait := time.Until(lookUntil)
		if wait <= 0 {
			return "", nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(min(wait, resendPoll)):
		}
	}
}

// findSent looks for an event carrying txnID among the latest events of roomID, read as the
// client's user (see latestEvents for bySync). It returns "" when there is none, and the read's
// error when the room could not be read.
func findSent(ctx context.Context, client *mautrix.Client, bySync bool, roomID id.RoomID, txnID string) (id.EventID, error) {
	events, err := latestEvents(ctx, client, bySync, roomID)
	if err != nil {
		return "", err
	}
	for _, evt := range events {
		if evt.Content.Raw == nil {
			_ = json.Unmarshal(evt.Content.VeryRaw, &evt.Content.Raw)
		}
		if evt.Type == event.EventEncrypted && client.Crypto != nil {
			// In an encrypted room the marker is inside the ciphertext; the bridge's device can
			// read what it encrypted itself.
			evt = decrypted(ctx, client.Crypto, roomID, evt)
		}
		if got, _ := evt.Content.Raw[TxnIDKey].(string); got == txnID {
			return evt.ID, nil
		}
	}
	return "", nil
}

// latestEvents returns up to resendLookback of the latest timeline events of roomID as the client's
// user sees them.
//
// With bySync, and when the user is joined, they come from an initial /sync filtered to the room
// (Client-Server API, GET /_matrix/client/v3/sync with an inline filter): the events the homeserver
// stored last, in the order it stored them. Otherwise they come from backward paging with
// /messages, which Dendrite orders by event depth: an event built before a homeserver stop and
// stored after its restart keeps its early depth and can sit below the page of the latest events,
// and of events sharing a depth (sent at once by different senders) its paging was seen to skip
// some. Such an event, cut off mid-send yet stored, was sent a second time. bySync is for users in
// few rooms (ghosts): Dendrite ignores a sync filter's room list and builds the complete sync of
// every room the user is joined to, which for the bridge bot or a double-puppeted account can be
// hundreds.
func latestEvents(ctx context.Context, client *mautrix.Client, bySync bool, roomID id.RoomID) ([]*event.Event, error) {
	if !bySync {
		return messagesBack(ctx, client, roomID)
	}
	none := map[string]any{"not_types": []string{"*"}}
	filter, err := json.Marshal(map[string]any{
		"room": map[string]any{
			"rooms":        []id.RoomID{roomID},
			"timeline":     map[string]any{"limit": resendLookback},
			"state":        map[string]any{"types": []string{}, "lazy_load_members": true},
			"ephemeral":    none,
			"account_data": none,
		},
		"presence":     none,
		"account_data": none,
	})
	if err != nil {
		return nil, err
	}
	// set_presence=offline: the read must not mark the ghost online (a sync without it does).
	sync, err := client.FullSyncRequest(ctx, mautrix.ReqSync{FilterID: string(filter), SetPresence: event.PresenceOffline})
	if err != nil {
		return nil, err
	}
	if room, ok := sync.Rooms.Join[roomID]; ok {
		return room.Timeline.Events, nil
	}
	return messagesBack(ctx, client, roomID)
}

// messagesBack returns up to resendLookback of the latest events of roomID from /messages.
func messagesBack(ctx context.Context, client *mautrix.Client, roomID id.RoomID) ([]*event.Event, error) {
	resp, err := client.Messages(ctx, roomID, "", "", mautrix.DirectionBackward, nil, resendLookback)
	if err != nil || resp == nil {
		return nil, err
	}
	return resp.Chunk, nil
}

// decrypted returns evt decrypted by helper, or evt itself when it cannot be.
func decrypted(ctx context.Context, helper mautrix.CryptoHelper, roomID id.RoomID, evt *event.Event) *event.Event {
	if evt.RoomID == "" {
		evt.RoomID = roomID
	}
	if _, ok := evt.Content.Parsed.(*event.EncryptedEventContent); !ok {
		if err := evt.Content.ParseRaw(evt.Type); err != nil {
			return evt
		}
	}
	dec, err := helper.Decrypt(ctx, evt)
	if err != nil || dec == nil {
		return evt
	}
	if dec.Content.Raw == nil {
		_ = json.Unmarshal(dec.Content.VeryRaw, &dec.Content.Raw)
	}
	return dec
}
