package wasim

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/proto/waSyncAction"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// What the phone writes to app state: its address book (contact actions in critical_unblock_low),
// the account's push name (setting_pushName in critical_block) and per-chat settings (mute in
// regular_high; pin, archive and mark-as-read in regular_low). Every write is a patch the phone's
// whatsmeow client encodes with its app state key (whatsmeow SendAppState, appstate.Build*); the
// server stores it and tells the companions, which fetch it.

// ChatSettings are the per-chat settings the phone syncs. Nil fields are left as they are.
type ChatSettings struct {
	// Muted mutes or unmutes the chat; MuteUntil is when a mute ends (zero: forever).
	Muted     *bool
	MuteUntil time.Time
	Pinned    *bool
	Archived  *bool
	// Unread marks the chat unread (true) or read (false).
	Unread *bool
}

// writeAppState has the phone write patch, making its app state key first if needed.
func (a *Account) writeAppState(ctx context.Context, patch appstate.PatchInfo) error {
	a.peer.lock.Lock()
	defer a.peer.lock.Unlock()
	if _, err := a.appStateKeyLocked(ctx); err != nil {
		return err
	} else if err = a.writeInitialAppStateLocked(ctx); err != nil {
		return err
	}
	return a.sendAppStateLocked(ctx, patch)
}

// sendAppStateLocked sends one patch through the phone's whatsmeow client. Caller holds a.peer.lock.
func (a *Account) sendAppStateLocked(ctx context.Context, patch appstate.PatchInfo) error {
	phone := a.Phone()
	if phone == nil {
		return fmt.Errorf("phone of %s is not online", a.pn.User)
	}
	if err := phone.cli.SendAppState(ctx, patch); err != nil {
		return fmt.Errorf("failed to write app state %s: %w", patch.Type, err)
	}
	return nil
}

// writeInitialAppStateLocked writes, once, what a phone has from the start: the account's push
// name. Caller holds a.peer.lock and made the key.
func (a *Account) writeInitialAppStateLocked(ctx context.Context) error {
	if a.peer.initialized {
		return nil
	}
	if err := a.sendAppStateLocked(ctx, appstate.BuildSettingPushName(a.PushName())); err != nil {
		return err
	}
	a.peer.initialized = true
	return nil
}

// SaveContact saves contact in the phone's address book under fullName and firstName (a contact
// action in critical_unblock_low, indexed by the contact's phone JID), or renames it if it is
// saved already. The account's companions get whatsmeow events.Contact.
func (a *Account) SaveContact(ctx context.Context, contact types.JID, fullName, firstName string) error {
	contact = contact.ToNonAD()
	action := &waSyncAction.ContactAction{
		FullName:                 proto.String(fullName),
		FirstName:                proto.String(firstName),
		SaveOnPrimaryAddressbook: proto.Bool(true),
	}
	a.srv.stateLock.Lock()
	if other := a.srv.accountFor(contact); other != nil {
		contact = other.pn
		action.LidJID = proto.String(other.lid.String())
		action.PnJID = proto.String(other.pn.String())
	}
	a.srv.stateLock.Unlock()
	return a.writeAppState(ctx, appstate.PatchInfo{
		Type: appstate.WAPatchCriticalUnblockLow,
		Mutations: []appstate.MutationInfo{{
			Index:   []string{appstate.IndexContact, contact.String()},
			Version: 2,
			Value:   &waSyncAction.SyncActionValue{ContactAction: action},
		}},
	})
}

// SetPushName changes the account's push name: the phone writes it to app state
// (setting_pushName), so companions get whatsmeow events.PushNameSetting, and announces it with its
// presence, so that its messages carry it from now on.
func (a *Account) SetPushName(ctx context.Context, name string) error {
	a.srv.stateLock.Lock()
	a.pushName = name
	phone := a.phone
	a.srv.stateLock.Unlock()
	if err := a.writeAppState(ctx, appstate.BuildSettingPushName(name)); err != nil {
		return err
	}
	if phone != nil {
		// The app announces the new name, so that its messages carry it at once.
		return phone.announce(ctx)
	}
	return nil
}

// SetChatSettings has the phone change the settings of chat (a user or group JID): one patch per
// given setting, in the order mute, archive, pin, unread, built by whatsmeow's appstate.BuildMuteAbs,
// BuildArchive (archiving also unpins, as on WhatsApp), BuildPin and BuildMarkChatAsRead. Separate
// patches keep one index per patch: whatsmeow's encoder does not account for an index set twice in
// one patch. Companions get events.Mute, events.Archive, events.Pin and events.MarkChatAsRead.
func (a *Account) SetChatSettings(ctx context.Context, chat types.JID, settings ChatSettings) error {
	chat = chat.ToNonAD()
	var patches []appstate.PatchInfo
	if settings.Muted != nil {
		var until *int64
		if *settings.Muted && !settings.MuteUntil.IsZero() {
			until = proto.Int64(settings.MuteUntil.UnixMilli())
		}
		patches = append(patches, appstate.BuildMuteAbs(chat, *settings.Muted, until))
	}
	if settings.Archived != nil {
		patches = append(patches, appstate.BuildArchive(chat, *settings.Archived, time.Time{}, nil))
	}
	if settings.Pinned != nil {
		patches = append(patches, appstate.BuildPin(chat, *settings.Pinned))
	}
	if settings.Unread != nil {
		patches = append(patches, appstate.BuildMarkChatAsRead(chat, !*settings.Unread, time.Time{}, nil))
	}
	for _, patch := range patches {
		if err := a.writeAppState(ctx, patch); err != nil {
			return err
		}
	}
	return nil
}
