package whatsapp

import (
	"context"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// App state is what the account's phone syncs to its companions: the address book (saved contact
// names), the account's own push name, and per-chat settings (mute, pin, archive, unread). whatsmeow
// fetches it after the phone shared its app state key and whenever the server says a collection
// changed; the login runs with EmitAppStateEventsOnFullSync so that the first full sync produces
// the same events as later changes (whatsmeow appstate.go dispatchAppState).

// AppStateHandler is implemented by a Handler that follows the account's app state. Its methods are
// called like Handler's (on whatsmeow's goroutine, in order, may block); an error is logged once.
type AppStateHandler interface {
	// HandleContactName follows a contact's saved name (full and first name, both "" when the
	// contact was removed from the address book); the login's contacts already have it.
	HandleContactName(ctx context.Context, contact types.JID, fullName, firstName string, fromFullSync bool) error
	// HandleOwnPushName follows the account's own push name (Login.OwnPushName has it already).
	HandleOwnPushName(ctx context.Context, name string) error
	// HandleChatSettings follows a change of a chat's mute, pin, archive or unread setting.
	HandleChatSettings(ctx context.Context, change ChatSettingsChange) error
	// HandleAppStateSynced is called when a full sync of a collection finished.
	HandleAppStateSynced(ctx context.Context, collection string)
}

// ChatSettingsChange is one change of a chat's settings synced from the phone. Only the non-nil
// fields changed.
type ChatSettingsChange struct {
	Chat types.JID
	// MutedUntil is set for a mute change: the zero time means unmuted; a mute without end is
	// whatsmeow's store.MutedForever (see IsMutedForever).
	MutedUntil *time.Time
	Pinned     *bool
	Archived   *bool
	// Unread is set when the chat was marked unread (true) or read (false).
	Unread *bool
	// Timestamp is when the change was made on the phone.
	Timestamp    time.Time
	FromFullSync bool
	// Stored is the chat's mute, pin and archive state in whatsmeow's store right after this
	// change, when the store could be read. Prefer it to the change itself: whatsmeow updates its
	// store in patch order, but may dispatch the events of two syncs running side by side out of
	// order (FetchAppState dispatches after releasing its sync lock), so the last handled change
	// is not always the last one made.
	Stored *types.LocalChatSettings
}

// IsMutedForever reports whether a ChatSettingsChange.MutedUntil means a mute without end.
func IsMutedForever(until time.Time) bool { return !until.Before(store.MutedForever) }

// OwnPushName is the account's own push name as the phone last synced it ("" before the first
// sync of a login that never had one).
func (l *Login) OwnPushName() string {
	l.clientLock.Lock()
	defer l.clientLock.Unlock()
	return l.ownPushName
}

func (l *Login) setOwnPushName(name string) {
	l.clientLock.Lock()
	l.ownPushName = name
	l.clientLock.Unlock()
}

// AppStateProgress reports how many of the app state collections (AppStateCollections) the
// current device has synced in full at least once, out of how many. A newly linked device syncs
// them right after the phone shared its app state key; until then saved contact names, the own
// push name and chat settings are not known. Both are 0 when there is no client, and while a
// stored device's progress is still to be read (right before its first connection).
func (l *Login) AppStateProgress() (synced, total int) {
	l.clientLock.Lock()
	defer l.clientLock.Unlock()
	if l.client == nil || l.appStatePending == l.client {
		return 0, 0
	}
	return len(l.appStateSynced), len(AppStateCollections)
}

// startAppStateProgressLocked starts the progress of cli, the login's new client (nil: none):
// none for a device being paired; a stored device's is read from its store by
// readAppStateProgress before the client first connects, in the connection's goroutine, so that
// start-up does not wait for one query per login (with a hundred logins they took most of it).
// The caller holds clientLock.
func (l *Login) startAppStateProgressLocked(cli *whatsmeow.Client) {
	l.appStateSynced = make(map[string]bool, len(AppStateCollections))
	l.appStatePending = nil
	if cli != nil && cli.Store.ID != nil && cli.Store.AppStateKeys != nil {
		l.appStatePending = cli
	}
}

// readAppStateProgress reads the progress of a stored device when it is still to be read.
// whatsmeow syncs every collection as soon as the phone shares its app state key
// (handleAppStateSyncKeyShare), and an empty collection leaves no stored version behind, so a
// restored session that holds a key counts as synced. It runs before the client connects, so no
// whatsmeow goroutine writes the progress meanwhile.
func (l *Login) readAppStateProgress(ctx context.Context, cli *whatsmeow.Client) {
	l.clientLock.Lock()
	pending := l.appStatePending == cli
	l.clientLock.Unlock()
	if !pending {
		return
	}
	synced := make(map[string]bool, len(AppStateCollections))
	if key, err := cli.Store.AppStateKeys.GetLatestAppStateSyncKeyID(ctx); err != nil {
		// Counted as not synced: status says it waits for the phone's contacts and settings
		// until whatsmeow syncs them again.
		l.log.Warn().Err(err).Msg("Failed to read whether the app state was synced before")
	} else if len(key) > 0 {
		for _, name := range AppStateCollections {
			synced[string(name)] = true
		}
	}
	l.clientLock.Lock()
	defer l.clientLock.Unlock()
	if l.appStatePending == cli {
		l.appStateSynced, l.appStatePending = synced, nil
	}
}

func (l *Login) markAppStateSynced(name string) {
	l.clientLock.Lock()
	defer l.clientLock.Unlock()
	if l.appStateSynced == nil {
		l.appStateSynced = make(map[string]bool, len(AppStateCollections))
	}
	l.appStateSynced[name] = true
}

// onAppState hands an app state event to the handler when it follows app state. App state events
// are always acknowledged: whatsmeow re-fetches app state, it is not redelivered.
func (l *Login) onAppState(ctx context.Context, cli *whatsmeow.Client, rawEvt any) bool {
	ah, ok := l.opts.Handler.(AppStateHandler)
	var err error
	switch evt := rawEvt.(type) {
	case *events.Contact:
		l.contacts.applyContact(evt)
		if ok {
			err = ah.HandleContactName(ctx, evt.JID, evt.Action.GetFullName(), evt.Action.GetFirstName(), evt.FromFullSync)
		}
	case *events.PushNameSetting:
		l.setOwnPushName(evt.Action.GetName())
		if ok {
			err = ah.HandleOwnPushName(ctx, evt.Action.GetName())
		}
	case *events.Mute:
		var until time.Time
		if evt.Action.GetMuted() {
			until = store.MutedForever
			if end := evt.Action.GetMuteEndTimestamp(); end > 0 {
				until = time.UnixMilli(end)
			}
		}
		err = l.chatSettings(ctx, cli, ah, ChatSettingsChange{Chat: evt.JID, MutedUntil: &until, Timestamp: evt.Timestamp, FromFullSync: evt.FromFullSync})
	case *events.Pin:
		pinned := evt.Action.GetPinned()
		err = l.chatSettings(ctx, cli, ah, ChatSettingsChange{Chat: evt.JID, Pinned: &pinned, Timestamp: evt.Timestamp, FromFullSync: evt.FromFullSync})
	case *events.Archive:
		archived := evt.Action.GetArchived()
		err = l.chatSettings(ctx, cli, ah, ChatSettingsChange{Chat: evt.JID, Archived: &archived, Timestamp: evt.Timestamp, FromFullSync: evt.FromFullSync})
	case *events.MarkChatAsRead:
		unread := !evt.Action.GetRead()
		err = l.chatSettings(ctx, cli, ah, ChatSettingsChange{Chat: evt.JID, Unread: &unread, Timestamp: evt.Timestamp, FromFullSync: evt.FromFullSync})
	case *events.AppStateSyncComplete:
		l.markAppStateSynced(string(evt.Name))
		if ok {
			ah.HandleAppStateSynced(ctx, string(evt.Name))
		}
	}
	return l.settle(ctx, rawEvt, err, true)
}

func (l *Login) chatSettings(ctx context.Context, cli *whatsmeow.Client, ah AppStateHandler, change ChatSettingsChange) error {
	if ah == nil {
		return nil
	}
	if cli != nil && cli.Store != nil && cli.Store.ChatSettings != nil {
		if stored, err := cli.Store.ChatSettings.GetChatSettings(ctx, change.Chat); err == nil && stored.Found {
			change.Stored = &stored
		}
	}
	return ah.HandleChatSettings(ctx, change)
}

// AppStateCollections names the app state collections whatsmeow syncs (critical_block holds the
// push name, critical_unblock_low the address book).
var AppStateCollections = appstate.AllPatchNames

// IsPeerProtocolMessage reports whether a message is one of the protocol messages the account's own
// devices exchange among themselves (app state key shares and requests, history sync notifications,
// LID migration mappings, peer data operations, security setting syncs): it belongs to no chat and
// must never create a room or a visible event. WhatsApp sends these as category="peer" messages
// from the own phone (whatsmeow handleProtocolMessage); edits, revocations and disappearing-message
// settings are protocol messages of a chat and are not peer messages.
func IsPeerProtocolMessage(evt *events.Message) bool {
	if !evt.Info.IsFromMe {
		return false
	} else if evt.Info.Category == "peer" {
		return true
	}
	proto := evt.Message.GetProtocolMessage()
	if proto == nil {
		return false
	}
	switch proto.GetType() {
	case waE2E.ProtocolMessage_APP_STATE_SYNC_KEY_SHARE,
		waE2E.ProtocolMessage_APP_STATE_SYNC_KEY_REQUEST,
		waE2E.ProtocolMessage_HISTORY_SYNC_NOTIFICATION,
		waE2E.ProtocolMessage_INITIAL_SECURITY_NOTIFICATION_SETTING_SYNC,
		waE2E.ProtocolMessage_APP_STATE_FATAL_EXCEPTION_NOTIFICATION,
		waE2E.ProtocolMessage_PEER_DATA_OPERATION_REQUEST_MESSAGE,
		waE2E.ProtocolMessage_PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE,
		waE2E.ProtocolMessage_LID_MIGRATION_MAPPING_SYNC:
		return true
	}
	return false
}
