package bridge

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// What the bridge does with each user's app state (whatsapp.AppStateHandler):
//   - saved contact names rename the contact's ghost at once, from the first full sync on;
//   - the account's own push name is stored with the user and shown by `status`;
//   - mute, pin, archive and unread are stored per user and chat (chat_settings). Pin, archive and
//     mute are also applied to the chat's room as the user's room tags and push rule when double
//     puppeting is on for the user (doublepuppet.go): they are the user's own account data, which
//     only the user's account can write.

var _ whatsapp.AppStateHandler = waRouter{}

// HandleContactName implements whatsapp.AppStateHandler: the contact's ghost is renamed now, not
// when the contact next writes.
func (r waRouter) HandleContactName(ctx context.Context, contact types.JID, _, _ string, _ bool) error {
	br, login := r.user.br, r.login()
	ghost, err := br.puppets.Get(ctx, contact, login.LIDs())
	if err != nil {
		return fmt.Errorf("failed to get ghost of %s: %w", contact, err)
	}
	if err = br.syncGhost(ctx, login, ghost, nil); err != nil {
		return fmt.Errorf("failed to rename ghost of %s: %w", contact, err)
	}
	return nil
}

var _ whatsapp.BusinessNameHandler = waRouter{}

// HandleBusinessName implements whatsapp.BusinessNameHandler: the ghost of a business contact
// follows its verified name (.BusinessName in bridge.displayname_template) when it changes, like a
// saved name. A business WhatsApp sends without a known ghost gets one only with a message.
func (r waRouter) HandleBusinessName(ctx context.Context, evt *events.BusinessName) error {
	br, login := r.user.br, r.login()
	ghost, err := br.puppets.Existing(ctx, evt.JID, login.LIDs())
	if err != nil {
		return fmt.Errorf("failed to look up ghost of %s: %w", evt.JID, err)
	} else if ghost == nil {
		return nil
	}
	if err = br.syncGhost(ctx, login, ghost, nil); err != nil {
		return fmt.Errorf("failed to rename ghost of business %s: %w", evt.JID, err)
	}
	zerolog.Ctx(ctx).Debug().Stringer("ghost", ghost.MXID).Str("business_name", evt.NewBusinessName).Msg("Business name changed")
	return nil
}

// HandleOwnPushName implements whatsapp.AppStateHandler: the name is stored with the user and
// announced to WhatsApp; the first time a login learns it, the user is told.
func (r waRouter) HandleOwnPushName(ctx context.Context, name string) error {
	user := r.user
	user.loginRowLock.Lock()
	var previous string
	var row database.UserLogin
	if user.loginRow != nil {
		previous = user.loginRow.PushName
		user.loginRow.PushName = name
		row = *user.loginRow
	}
	user.loginRowLock.Unlock()
	var err error
	if previous != name && row.Phone != "" {
		err = user.br.DB.Login.Upsert(ctx, &row)
	}
	if previous == "" && name != "" {
		user.notify(fmt.Sprintf("Your WhatsApp name is **%s**.", name))
	}
	// WhatsApp puts the name on the user's messages only once it was announced (presence_own.go).
	user.announcePresence(ctx, false)
	return err
}

// HandleChatSettings implements whatsapp.AppStateHandler: the settings are stored for the user and
// chat, and applied to the chat's room through double puppeting (see the comment at the top of the file).
func (r waRouter) HandleChatSettings(ctx context.Context, change whatsapp.ChatSettingsChange) error {
	r.user.chatSettingsLock.Lock()
	defer r.user.chatSettingsLock.Unlock()
	db := r.user.br.DB.ChatSettings
	cs, err := db.Get(ctx, r.user.MXID, change.Chat)
	if err != nil {
		return fmt.Errorf("failed to load chat settings of %s: %w", change.Chat, err)
	} else if cs == nil {
		cs = &database.ChatSettings{UserMXID: r.user.MXID, Chat: change.Chat.ToNonAD()}
	}
	if stored := change.Stored; stored != nil {
		// whatsmeow's store has the settings in patch order, whatever order the events came in.
		change.MutedUntil, change.Pinned, change.Archived = &stored.MutedUntil, &stored.Pinned, &stored.Archived
	}
	if change.MutedUntil != nil {
		cs.MutedUntil = *change.MutedUntil
		if whatsapp.IsMutedForever(cs.MutedUntil) {
			cs.MutedUntil = database.MutedForever
		}
	}
	if change.Pinned != nil {
		cs.Pinned = *change.Pinned
	}
	if change.Archived != nil {
		cs.Archived = *change.Archived
	}
	if change.Unread != nil {
		cs.Unread = *change.Unread
	}
	if err = db.Upsert(ctx, cs); err != nil {
		return fmt.Errorf("failed to store chat settings of %s: %w", change.Chat, err)
	}
	zerolog.Ctx(ctx).Debug().Stringer("chat_jid", change.Chat).Bool("pinned", cs.Pinned).Bool("archived", cs.Archived).
		Bool("unread", cs.Unread).Time("muted_until", cs.MutedUntil).
		Msg("Stored chat settings from WhatsApp")
	r.user.br.applyChatSettings(ctx, r.user, cs) // doublepuppet.go
	return nil
}

// HandleAppStateSynced implements whatsapp.AppStateHandler.
func (r waRouter) HandleAppStateSynced(ctx context.Context, collection string) {
	zerolog.Ctx(ctx).Debug().Str("collection", collection).Msg("WhatsApp app state synced")
}

// OwnPushName is the user's WhatsApp push name as the phone synced it ("" when not known yet).
func (user *Account) OwnPushName() string {
	if name := user.wa.OwnPushName(); name != "" {
		return name
	}
	user.loginRowLock.Lock()
	defer user.loginRowLock.Unlock()
	if user.loginRow == nil {
		return ""
	}
	return user.loginRow.PushName
}

// applySavedName sets the saved name (full and first name) of a ghost's contact by the rule for
// ghosts that several bridge users share: the name saved in the address book of the first
// logged-in bridge user, by Matrix user ID, who saved the contact. A ghost nobody saved keeps
// what the contact chose for themselves (push name) and the other fields of info. The rule does
// not depend on which user's event triggered the sync, so the name does not flip between users.
func (br *Bridge) applySavedName(ctx context.Context, ghost *puppet.Puppet, info *puppet.ContactInfo) {
	for _, user := range br.allAccounts() { // by Matrix ID, then oldest login first
		if user.WAJID().IsEmpty() {
			continue
		}
		saved := user.wa.Contact(ctx, ghost.ContactJIDs()...)
		if saved.FullName != "" || saved.FirstName != "" {
			info.FullName, info.FirstName = saved.FullName, saved.FirstName
			return
		}
	}
	info.FullName, info.FirstName = "", ""
}
