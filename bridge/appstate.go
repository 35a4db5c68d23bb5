package bridge

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// What the bridge does with each user's app state (whatsapp.AppStateHandler):
//   - saved contact names rename the contact's ghost at once, from the first full sync on;
//   - the account's own push name is stored with the user and shown by `status`;
//   - mute, pin, archive and unread are stored per user and chat (chat_settings). Applying them
//     needs the user's own account (room tags and push rules are per-user account data that an
//     appservice cannot write for a real user), that is double puppeting, which the bridge does
//     not have yet: they are kept for it and logged at debug.

var _ whatsapp.AppStateHandler = waRouter{}

// HandleContactName implements whatsapp.AppStateHandler: the contact's ghost is renamed now, not
// when the contact next writes.
func (r waRouter) HandleContactName(ctx context.Context, contact types.JID, _, _ string, _ bool) error {
	br, login := r.user.br, r.login()
	ghost, err := br.puppets.Get(ctx, contact, login.LIDs())
	if err != nil {
		return fmt.Errorf("failed to get ghost of %s: %w", contact, err)
	}
	if err = ghost.SyncProfile(ctx, br.contactInfo(ctx, login, ghost)); err != nil {
		return fmt.Errorf("failed to rename ghost of %s: %w", contact, err)
	}
	return nil
}

// HandleOwnPushName implements whatsapp.AppStateHandler: the name is stored with the user; the
// first time a login learns it, the user is told.
func (r waRouter) HandleOwnPushName(ctx context.Context, name string) error {
	user := r.user
	user.rowLock.Lock()
	previous := user.row.PushName
	user.row.PushName = name
	var err error
	if previous != name {
		err = user.saveLocked(ctx)
	}
	user.rowLock.Unlock()
	if previous == "" && name != "" {
		user.notify(fmt.Sprintf("Your WhatsApp name is **%s**.", name))
	}
	return err
}

// HandleChatSettings implements whatsapp.AppStateHandler: the settings are stored for the user and
// chat. See the comment at the top of the file for why they are not applied to the room.
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
		Msg("Stored chat settings from WhatsApp; room tags and notification settings need double puppeting")
	return nil
}

// HandleAppStateSynced implements whatsapp.AppStateHandler.
func (r waRouter) HandleAppStateSynced(ctx context.Context, collection string) {
	zerolog.Ctx(ctx).Debug().Str("collection", collection).Msg("WhatsApp app state synced")
}

// OwnPushName is the user's WhatsApp push name as the phone synced it ("" when not known yet).
func (user *User) OwnPushName() string {
	if name := user.wa.OwnPushName(); name != "" {
		return name
	}
	user.rowLock.Lock()
	defer user.rowLock.Unlock()
	return user.row.PushName
}

// applySavedName sets the saved name (full and first name) of a ghost's contact by the rule for
// ghosts that several bridge users share: the name saved in the address book of the first
// logged-in bridge user, by Matrix user ID, who saved the contact. A ghost nobody saved keeps
// what the contact chose for themselves (push name) and the other fields of info. The rule does
// not depend on which user's event triggered the sync, so the name does not flip between users.
func (br *Bridge) applySavedName(ctx context.Context, ghost *puppet.Puppet, info *puppet.ContactInfo) {
	br.usersLock.Lock()
	users := make([]*User, 0, len(br.users))
	for _, user := range br.users {
		users = append(users, user)
	}
	br.usersLock.Unlock()
	slices.SortFunc(users, func(a, b *User) int { return strings.Compare(string(a.MXID), string(b.MXID)) })
	for _, user := range users {
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
