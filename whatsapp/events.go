package whatsapp

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/sessionlock"
)

// Handler is what a login hands on to the bridge: the events about chats and contacts, and what
// the account owner must hear about the connection. Connection and contact bookkeeping stays in
// the Login.
//
// Every method is called on whatsmeow's event goroutine, one event at a time and in order, and
// may block (the next event waits), so the bridge only stores the events bound for portals (see
// EncodeEvent) and bridges them later. A method that returns an error has the failure logged once
// by the login; HandleMessage, HandleGroupInfo, HandleJoinedGroup and HandleReceipt errors leave
// the event unacknowledged, so that WhatsApp delivers it again.
type Handler interface {
	// HandleMessage bridges a message (edits, reactions and revocations included).
	HandleMessage(ctx context.Context, evt *events.Message) error
	// HandleGroupInfo bridges a change of a group's name, topic, members or settings.
	HandleGroupInfo(ctx context.Context, evt *events.GroupInfo) error
	// HandleJoinedGroup handles the account being added to a group.
	HandleJoinedGroup(ctx context.Context, evt *events.JoinedGroup) error
	// HandleReceipt bridges a read or delivery receipt.
	HandleReceipt(ctx context.Context, evt *events.Receipt) error
	// HandleChatPresence bridges a typing notification.
	HandleChatPresence(ctx context.Context, evt *events.ChatPresence) error
	// HandlePicture follows a change of a contact's or group's picture.
	HandlePicture(ctx context.Context, evt *events.Picture) error
	// HandlePushName follows a contact's new push name; the login's contacts already have it.
	HandlePushName(ctx context.Context, evt *events.PushName) error
	// HandleUndecryptable shows a message that could not be decrypted (yet); whatsmeow has already
	// asked the sender (retry receipt) and the phone (placeholder resend request) for it again, and
	// the copy that arrives comes to HandleMessage. Errors do not make WhatsApp deliver it again.
	HandleUndecryptable(ctx context.Context, evt *events.UndecryptableMessage) error
	// HandleMediaRetry bridges the phone's answer to a request to upload expired media again.
	// Errors do not make WhatsApp deliver it again.
	HandleMediaRetry(ctx context.Context, evt *events.MediaRetry) error
	// HandleCall tells the user about a call: evt is *events.CallOffer (a 1:1 call rings),
	// *events.CallOfferNotice (a group call started), *events.CallAccept / *events.CallReject (a
	// device answered or declined it) or *events.CallTerminate (a call ended).
	HandleCall(ctx context.Context, evt any) error
	// HandleHistorySync bridges a chunk of the chat history the phone sends after a link (or on
	// request). Unlike the other methods it is called on whatsmeow's history sync goroutine, one
	// chunk at a time and in order, so live messages keep flowing while it runs; errors are logged
	// and the chunk is not delivered again.
	HandleHistorySync(ctx context.Context, chunk *HistoryChunk) error
	// Connected is called each time the connection came up (the state is StateConnected already).
	Connected(ctx context.Context)
	// LoggedOut is called once WhatsApp ended the session; the login has no client any more and its
	// device is gone from the store. reason says why, for the account owner.
	LoggedOut(ctx context.Context, reason string)
	// Alert tells the account owner about a connection problem they may have to act on.
	Alert(ctx context.Context, alert Alert)
}

// AlertKind names a connection problem the account owner should hear about.
type AlertKind int

// The connection problems a Handler is alerted to.
const (
	// AlertStreamReplaced: another client connected with this session and took the connection.
	AlertStreamReplaced AlertKind = iota + 1
	// AlertTemporaryBan: WhatsApp banned the account for a while; Detail says until when and why.
	AlertTemporaryBan
	// AlertClientOutdated: WhatsApp refuses this client version.
	AlertClientOutdated
	// AlertConnectFailure: WhatsApp refused the connection for another reason; Detail has its code.
	AlertConnectFailure
)

// Alert is a connection problem for the account owner.
type Alert struct {
	Kind AlertKind
	// Detail is WhatsApp's description, when it gave one.
	Detail string
	// Until is when a temporary ban ends (zero when unknown or not a ban).
	Until time.Time
}

// handleEvent is whatsmeow's event handler for one client of the login. It returns false when an
// event could not be handled, so that whatsmeow does not acknowledge it.
//
// whatsmeow dispatches a decrypted message on the goroutine that decrypted it, whose store writes
// are then held for the handler's insert to carry (internal/sessionlock/hold.go). Whatever no
// insert carried (an event the handler ignores, one that failed) is written before the handler of
// such an event (decrypted) returns, and so before the receipt; when that write fails, the event
// fails too.
//
// A handler that panics fails the event (whatsmeow would count a recovered panic as success).
func (l *Login) handleEvent(cli *whatsmeow.Client, rawEvt any) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			l.log.Error().Any("panic", r).Str("stack", string(debug.Stack())).Type("event_type", rawEvt).
				Msg("WhatsApp event handler panicked, the event will be delivered again")
			ok = false
		}
		if cli == nil || !decrypted(rawEvt) {
			return
		}
		if err := sessionlock.WriteHeld(l.opts.Background, cli.Store); err != nil {
			l.log.Err(err).Type("event_type", rawEvt).Msg("Failed to handle WhatsApp event, it will be delivered again")
			ok = false
		}
	}()
	return l.dispatch(cli, rawEvt)
}

// decrypted reports whether whatsmeow dispatches evt on the goroutine that decrypted its message,
// whose store writes may be held (Client.handleDecryptedMessage, handleDecryptedArmadillo,
// decryptMessages). Other events are left alone: whatsmeow may be replacing the device's stores
// meanwhile (a logout deletes the device while its event is dispatched).
func decrypted(evt any) bool {
	switch evt.(type) {
	case *events.Message, *events.FBMessage, *events.UndecryptableMessage:
		return true
	}
	return false
}

// dispatch is the single switch over WhatsApp's event kinds. Events of a client that is no longer
// the login's current one (after a logout or a new pairing) are ignored.
func (l *Login) dispatch(cli *whatsmeow.Client, rawEvt any) bool {
	if l.Client() != cli {
		return true
	}
	ctx := l.log.WithContext(l.opts.Background)
	h := l.opts.Handler
	switch evt := rawEvt.(type) {
	case *events.Connected:
		l.onConnected(ctx)
	case *events.Disconnected, *events.KeepAliveTimeout, *events.LoggedOut, *events.StreamReplaced,
		*events.ConnectFailure, *events.TemporaryBan, *events.ClientOutdated, *events.StreamError:
		l.onConnectionProblem(ctx, cli, evt)
	case *events.PairSuccess:
		l.onPairSuccess(evt)
	case *events.Contact, *events.PushNameSetting, *events.Mute, *events.Pin, *events.Archive,
		*events.MarkChatAsRead, *events.AppStateSyncComplete:
		return l.onAppState(ctx, cli, rawEvt) // appstate.go
	case *events.BusinessName:
		return l.onBusinessName(ctx, evt)
	case *events.PushName:
		return l.onPushName(ctx, evt)
	case *events.Message:
		return l.onMessage(ctx, evt)
	case *events.HistorySync:
		return l.onHistorySync(ctx, cli, evt) // history.go
	case *events.GroupInfo:
		return l.settle(ctx, rawEvt, h.HandleGroupInfo(ctx, evt), false)
	case *events.JoinedGroup:
		return l.settle(ctx, rawEvt, h.HandleJoinedGroup(ctx, evt), false)
	case *events.Receipt:
		return l.settle(ctx, rawEvt, h.HandleReceipt(ctx, evt), false)
	case *events.ChatPresence:
		return l.settle(ctx, rawEvt, h.HandleChatPresence(ctx, evt), true)
	case *events.Presence:
		return l.onPresence(ctx, evt) // presence.go
	case *events.Picture:
		return l.settle(ctx, rawEvt, h.HandlePicture(ctx, evt), true)
	case *events.UndecryptableMessage:
		// The failed decryption stored no session record: end the lease its load took.
		if cli != nil {
			sessionlock.ReleaseSender(cli.Store, evt.Info.Sender, evt.Info.SenderAlt)
		}
		return l.settle(ctx, rawEvt, h.HandleUndecryptable(ctx, evt), true)
	case *events.MediaRetry:
		return l.settle(ctx, rawEvt, h.HandleMediaRetry(ctx, evt), true)
	case *events.CallOffer, *events.CallOfferNotice, *events.CallAccept, *events.CallReject, *events.CallTerminate:
		return l.settle(ctx, rawEvt, h.HandleCall(ctx, rawEvt), true)
	default:
		zerolog.Ctx(ctx).Trace().Type("event_type", rawEvt).Msg("Unhandled WhatsApp event")
	}
	return true
}

// settle logs a handler's failure once and says whether whatsmeow may acknowledge the event:
// always when ackOnError is set (receipts, typing and the like are not worth a redelivery), else
// only when the handler succeeded.
func (l *Login) settle(ctx context.Context, rawEvt any, err error, ackOnError bool) bool {
	if err == nil {
		return true
	}
	if ackOnError {
		zerolog.Ctx(ctx).Warn().Err(err).Type("event_type", rawEvt).Msg("Failed to handle WhatsApp event")
		return true
	}
	zerolog.Ctx(ctx).Err(err).Type("event_type", rawEvt).Msg("Failed to handle WhatsApp event, it will be delivered again")
	return false
}

// onMessage remembers the push name a message carries for its sender and hands the message on; it
// is acknowledged only when the handler bridged it.
func (l *Login) onMessage(ctx context.Context, evt *events.Message) bool {
	if IsPeerProtocolMessage(evt) {
		zerolog.Ctx(ctx).Debug().Str("message_id", evt.Info.ID).Msg("Ignoring protocol message from the own devices")
		return true
	}
	if !evt.Info.IsFromMe {
		l.contacts.notePushName(Sender(evt.Info), evt.Info.PushName)
	}
	return l.settle(ctx, evt, l.opts.Handler.HandleMessage(ctx, evt), false)
}

// onPushName remembers a contact's new push name and hands the change on.
// BusinessNameHandler is implemented by a Handler that follows business contacts' verified names.
// WhatsApp sends a business's verified name with each of its messages and in user queries;
// whatsmeow reports it (events.BusinessName) when it differs from the stored one, so a renamed
// business is noticed with its next message. A Handler without it only gets the name through
// Login.Contact.
type BusinessNameHandler interface {
	// HandleBusinessName follows a business contact's new verified name; the login's contacts
	// already have it. evt.JID is the JID the message or query used (often the LID).
	HandleBusinessName(ctx context.Context, evt *events.BusinessName) error
}

// onBusinessName records a business contact's verified name and hands it to the handler.
// whatsmeow dispatches it from a goroutine of its own, beside the message that carried it.
func (l *Login) onBusinessName(ctx context.Context, evt *events.BusinessName) bool {
	l.contacts.applyBusinessName(evt)
	h, ok := l.opts.Handler.(BusinessNameHandler)
	if !ok {
		return true
	}
	return l.settle(ctx, evt, h.HandleBusinessName(ctx, evt), true)
}

func (l *Login) onPushName(ctx context.Context, evt *events.PushName) bool {
	l.contacts.notePushName(evt.JID, evt.NewPushName)
	return l.settle(ctx, evt, l.opts.Handler.HandlePushName(ctx, evt), true)
}
