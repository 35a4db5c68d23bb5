package bridge

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
)

// Double puppeting: with bridge.double_puppet.as_token set, a logged-in user's own ghost (the
// "you (WA)" account that shows what the user does on their phone) is replaced by the user's real
// Matrix account wherever the user is in the room, through the second registration's token
// (portal/doublepuppet.go). What the bridge sends that way comes back from the homeserver as the
// user's own events: messages, edits, reactions and redactions carry portal.DoublePuppetMarker and
// are dropped in handleMatrixEvent; read receipts are remembered here and dropped in handleReceipt.

// receiptEchoTTL is how long a read receipt set as a user is remembered as the bridge's own.
const receiptEchoTTL = 10 * time.Minute

// doublePuppets implements portal.DoublePuppets for the bridge's users.
type doublePuppets struct {
	br     *Bridge
	matrix *portal.AppserviceMatrix
	// receiptsLock guards receipts: when each read receipt the bridge set as a user was set.
	receiptsLock sync.Mutex
	receipts     map[receiptKey]time.Time
}

type receiptKey struct {
	user  id.UserID
	room  id.RoomID
	event id.EventID
}

var _ portal.DoublePuppets = (*doublePuppets)(nil)

func newDoublePuppets(br *Bridge) *doublePuppets {
	return &doublePuppets{br: br, receipts: make(map[receiptKey]time.Time)}
}

// RealUser implements portal.DoublePuppets: the logged-in user whose own ghost ghost is, when
// double puppeting is on for that user, except in the 1:1 chat of another of the user's
// accounts (where the ghost is that account's contact).
func (d *doublePuppets) RealUser(ctx context.Context, ghost id.UserID, roomID id.RoomID) id.UserID {
	if !d.br.puppets.IsGhost(ghost) {
		return ""
	}
	for _, user := range d.br.linkedAccounts() {
		jid := user.WAJID()
		if jid.IsEmpty() || d.br.puppets.MXIDFor(jid.ToNonAD()) != ghost {
			continue
		}
		if !user.doublePuppetOn() {
			return ""
		}
		if len(user.Accounts()) > 1 && roomID != "" {
			p, err := d.br.DB.Portal.GetByMXID(ctx, roomID)
			if err != nil {
				zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to look up the portal of a room for double puppeting")
				return ""
			}
			if p != nil && !p.Key.Receiver.IsEmpty() && p.Key.Receiver.User != jid.User {
				return ""
			}
		}
		return user.MXID
	}
	return ""
}

// Active implements portal.DoublePuppets.
func (d *doublePuppets) Active(user id.UserID) bool {
	d.br.usersLock.Lock()
	u := d.br.users[user]
	d.br.usersLock.Unlock()
	return u != nil && len(u.Accounts()) > 0 && u.doublePuppetOn()
}

// ReceiptSent implements portal.DoublePuppets.
func (d *doublePuppets) ReceiptSent(user id.UserID, roomID id.RoomID, eventID id.EventID) {
	now := time.Now()
	d.receiptsLock.Lock()
	defer d.receiptsLock.Unlock()
	for key, at := range d.receipts {
		if now.Sub(at) > receiptEchoTTL {
			delete(d.receipts, key)
		}
	}
	d.receipts[receiptKey{user, roomID, eventID}] = now
}

// isReceiptEcho reports whether a read receipt of user is one the bridge set itself (and forgets it).
func (d *doublePuppets) isReceiptEcho(user id.UserID, roomID id.RoomID, eventID id.EventID) bool {
	key := receiptKey{user, roomID, eventID}
	d.receiptsLock.Lock()
	defer d.receiptsLock.Unlock()
	at, ok := d.receipts[key]
	if ok {
		delete(d.receipts, key)
	}
	return ok && time.Since(at) <= receiptEchoTTL
}

// doublePuppetOn reports whether double puppeting is configured and the user has not turned it off.
func (user *User) doublePuppetOn() bool {
	if user.br.doublePuppets == nil {
		return false
	}
	user.rowLock.Lock()
	defer user.rowLock.Unlock()
	return !user.row.DoublePuppetOff
}

// cmdDoublePuppet shows or changes whether the user's real account shows what they do on the phone.
func cmdDoublePuppet(ctx context.Context, ce *commandEvent) {
	if ce.br.doublePuppets == nil {
		ce.reply(ctx, "Double puppeting is not set up on this bridge: what you do on your phone shows as your WhatsApp ghost.")
		return
	}
	if len(ce.args) == 0 {
		state := "on: what you send, edit, react to, delete and read on your phone shows as your own Matrix account"
		if !ce.user.doublePuppetOn() {
			state = "off: what you do on your phone shows as your WhatsApp ghost"
		}
		ce.reply(ctx, "Double puppeting is %s. Change it with `%sdouble-puppet on|off`.", state, ce.prefix())
		return
	}
	var off bool
	switch strings.ToLower(ce.args[0]) {
	case "on":
	case "off":
		off = true
	default:
		ce.reply(ctx, "Usage: `%sdouble-puppet [on|off]`", ce.prefix())
		return
	}
	ce.user.rowLock.Lock()
	ce.user.row.DoublePuppetOff = off
	err := ce.user.saveLocked(ctx)
	ce.user.rowLock.Unlock()
	if err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to save double puppeting choice")
		ce.reply(ctx, "Failed to save your choice, please try again.")
		return
	}
	if off {
		ce.reply(ctx, "Double puppeting is off: what you do on your phone now shows as your WhatsApp ghost.")
	} else {
		ce.reply(ctx, "Double puppeting is on: what you do on your phone now shows as your own Matrix account.")
	}
}

// setUpDoublePuppeting turns double puppeting on in matrix when the config has a token.
func (br *Bridge) setUpDoublePuppeting(cfg *config.Config, matrix *portal.AppserviceMatrix) {
	if !cfg.Bridge.DoublePuppet.Enabled() {
		return
	}
	br.doublePuppets = newDoublePuppets(br)
	br.doublePuppets.matrix = matrix
	matrix.SetDoublePuppeting(cfg.Bridge.DoublePuppet.ASToken, br.doublePuppets)
}

// applyChatSettings shows the user's WhatsApp settings of a chat (pin, archive, mute) on the user's
// own account in the chat's room, when double puppeting is on for the user and the room exists.
// Failures are logged: the settings stay stored and are applied with the next change.
func (br *Bridge) applyChatSettings(ctx context.Context, user *Account, cs *database.ChatSettings) {
	if br.doublePuppets == nil || !user.doublePuppetOn() {
		return
	}
	roomID, err := br.portals.RoomOfChat(ctx, userLogin{user}, cs.Chat)
	if err != nil || roomID == "" {
		return
	}
	br.applyChatSettingsIn(ctx, user.User, roomID, cs)
}

// RoomCreated implements portal.Users: a new room gets the settings the phone synced for its
// chat before it existed.
func (br *Bridge) RoomCreated(ctx context.Context, login portal.Login, chat types.JID, roomID id.RoomID) {
	if br.doublePuppets == nil || !login.DoublePuppeted() {
		return
	}
	user, err := br.GetUser(ctx, login.UserMXID())
	if err != nil {
		return
	}
	cs, err := br.DB.ChatSettings.Get(ctx, user.MXID, chat)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to load chat settings for the new room")
		return
	} else if cs != nil {
		br.applyChatSettingsIn(ctx, user, roomID, cs)
	}
}

func (br *Bridge) applyChatSettingsIn(ctx context.Context, user *User, roomID id.RoomID, cs *database.ChatSettings) {
	settings := portal.ChatSettings{Pinned: cs.Pinned, Archived: cs.Archived, Muted: cs.Muted(time.Now())}
	if err := br.doublePuppets.matrix.ApplyChatSettings(ctx, user.MXID, roomID, settings); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Stringer("room_id", roomID).Msg("Failed to apply chat settings to the user's room tags")
	}
}
