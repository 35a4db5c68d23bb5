package portal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
)

// WhatsApp calls cannot be bridged (no audio or video reaches a linked device); the bridge tells the
// room about them instead (bridge.calls.notices, on by default) and can answer 1:1 callers with a
// text on WhatsApp (bridge.calls.auto_reply, off by default).

// Call is the start or end of a WhatsApp call, from whatsmeow's call events (call.go).
type Call struct {
	// ID is WhatsApp's call ID.
	ID string
	// Caller is the JID of the caller (the call's creator): the phone-number JID when WhatsApp gave
	// it, else the LID.
	Caller types.JID
	// Group is the group of a group call; empty for a 1:1 call.
	Group types.JID
	// Video is true for a video call (known at the start only).
	Video bool
	// Ended is true for the end of the call (events.CallTerminate); Reason is WhatsApp's reason
	// for it ("timeout": nobody answered).
	Ended  bool
	Reason string
	// Answered and Declined are set for a device's answer (events.CallAccept) or refusal
	// (events.CallReject) of the call; From says whose device it was (the user's own phone when
	// the user answered or declined there).
	Answered, Declined bool
	From               types.JID
	// Timestamp is when WhatsApp sent the event.
	Timestamp time.Time
}

// CallFromEvent builds a Call from *events.CallOffer, *events.CallOfferNotice,
// *events.CallAccept, *events.CallReject or *events.CallTerminate; ok is false for any other event.
func CallFromEvent(evt any) (call Call, ok bool) {
	var meta types.BasicCallMeta
	switch evt := evt.(type) {
	case *events.CallOffer:
		meta = evt.BasicCallMeta
		call.Video = evt.Data != nil && evt.Data.GetChildByTag("video").Tag == "video"
	case *events.CallOfferNotice:
		meta = evt.BasicCallMeta
		call.Video = evt.Media == "video"
	case *events.CallTerminate:
		meta = evt.BasicCallMeta
		call.Ended, call.Reason = true, evt.Reason
	case *events.CallAccept:
		meta = evt.BasicCallMeta
		call.Answered = true
	case *events.CallReject:
		meta = evt.BasicCallMeta
		call.Declined = true
	default:
		return Call{}, false
	}
	call.ID, call.Group, call.Timestamp, call.From = meta.CallID, meta.GroupJID, meta.Timestamp, meta.From.ToNonAD()
	// The caller's phone number (caller_pn) names the same person as the LID call-creator; it is
	// preferred because the LID alone may not be mapped yet (nothing else from the caller arrived).
	switch {
	case meta.CallCreatorAlt.Server == types.DefaultUserServer:
		call.Caller = meta.CallCreatorAlt.ToNonAD()
	case !meta.CallCreator.IsEmpty():
		call.Caller = meta.CallCreator.ToNonAD()
	default:
		call.Caller = meta.From.ToNonAD()
	}
	return call, true
}

// HandleWhatsAppCall tells the call's chat room about a call login's account received, and answers a
// 1:1 caller with the configured auto-reply. It returns once both are done.
func (m *Manager) HandleWhatsAppCall(ctx context.Context, login Login, call Call) error {
	calls := m.cfg.Bridge.Calls
	if !calls.NoticesEnabled() && (calls.AutoReply == "" || !call.Group.IsEmpty()) {
		return nil
	}
	chat := call.Group
	if chat.IsEmpty() {
		chat = call.Caller
	}
	key, err := m.KeyFor(ctx, login, chat)
	if err != nil {
		return err
	}
	p, err := m.Get(ctx, key)
	if err != nil {
		return err
	}
	return p.run(ctx, &waCallEvent{login: login, call: call})
}

// Call notice parts: each call gets at most one notice of each, so a call stanza WhatsApp delivers
// again adds nothing (the part goes into the txn ID).
const (
	callPartStart = iota
	callPartEnd
	callPartAnswered
	callPartDeclined
)

func (p *Portal) handleWACall(ctx context.Context, login Login, call Call) error {
	ctx = zerolog.Ctx(ctx).With().Str("call_id", call.ID).Bool("call_ended", call.Ended).Logger().WithContext(ctx)
	calls := p.m.cfg.Bridge.Calls
	part := callPartStart
	switch {
	case call.Answered || call.Declined:
		// Only the user's own answer matters here (the other side answering a call the user
		// made on the phone is not a WhatsApp call the room was told about).
		if !p.isOwnJID(ctx, login, call.From) {
			return nil
		}
		part = callPartDeclined
		if call.Answered {
			part = callPartAnswered
			// Remembered until the call ends, so that its end is not reported as missed. The
			// portal goroutine is the only one touching it; a restart in between forgets it.
			if p.answeredCalls == nil {
				p.answeredCalls = make(map[string]bool)
			}
			p.answeredCalls[call.ID] = true
		}
	case call.Ended:
		part = callPartEnd
		call.Answered = p.answeredCalls[call.ID]
		delete(p.answeredCalls, call.ID)
	}
	replied := false
	if part == callPartStart && call.Group.IsEmpty() && calls.AutoReply != "" {
		// A failed auto-reply must not cost the notice: log it and go on.
		if err := p.autoReplyToCall(ctx, login, call); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to answer call automatically")
		} else {
			replied = true
		}
	}
	if !calls.NoticesEnabled() {
		return nil
	}
	if err := p.ensureRoom(ctx, login); err != nil {
		return err
	}
	ghost, err := p.m.puppets.Get(ctx, call.Caller, login.LIDs())
	if err != nil {
		return err
	}
	if err = p.m.ensureGhostJoined(ctx, p.row.MXID, ghost); err != nil {
		return fmt.Errorf("failed to join caller ghost: %w", err)
	}
	content := &event.MessageEventContent{MsgType: event.MsgNotice, Body: callNoticeText(call, replied, calls.AutoReply)}
	_, err = p.m.matrix.SendEvent(ctx, ghost.MXID, p.row.MXID, event.EventMessage, content, call.Timestamp.UnixMilli(), p.txnID("call."+call.ID, part))
	if err != nil {
		return fmt.Errorf("failed to send call notice to Matrix: %w", err)
	}
	zerolog.Ctx(ctx).Debug().Msg("Sent call notice")
	return nil
}

// callNoticeText is what the room reads about a call. A 1:1 call that ended unanswered with reason
// "timeout" (nobody answered) or none (the caller gave up) is a missed call; a call the user
// answered on the phone, or one that ended for another reason, just ends.
func callNoticeText(call Call, replied bool, reply string) string {
	kind := "call"
	if call.Video {
		kind = "video call"
	}
	switch {
	case !call.Group.IsEmpty() && call.Ended:
		return "The group call ended."
	case !call.Group.IsEmpty():
		return fmt.Sprintf("Started a group %s. Join it with WhatsApp on your phone.", kind)
	case call.Answered && !call.Ended:
		return "You answered the call on your phone."
	case call.Declined:
		return "You declined the call on your phone."
	case call.Ended && !call.Answered && (call.Reason == "timeout" || call.Reason == ""):
		return "Missed call."
	case call.Ended:
		return "The call ended."
	}
	text := fmt.Sprintf("Incoming %s. Answer it with WhatsApp on your phone.", kind)
	if replied {
		text += fmt.Sprintf(" The caller was sent your automatic reply: %q", reply)
	}
	return text
}

// autoReplyToCall sends bridge.calls.auto_reply to a 1:1 caller on WhatsApp. The message ID is
// derived from the call ID, so a call delivered again is not answered twice (WhatsApp drops a
// resend of a known ID).
func (p *Portal) autoReplyToCall(ctx context.Context, login Login, call Call) error {
	cli := login.Client()
	if cli == nil {
		return fmt.Errorf("failed to send call auto-reply: %w", ErrNotConnected)
	}
	sum := sha256.Sum256([]byte(p.Key.Receiver.User + "/" + call.ID))
	msgID := "3EB0" + strings.ToUpper(hex.EncodeToString(sum[:9]))
	msg := &waE2E.Message{Conversation: proto.String(p.m.cfg.Bridge.Calls.AutoReply)}
	if _, err := cli.SendMessage(ctx, p.Key.JID, msg, whatsmeow.SendRequestExtra{ID: msgID}); err != nil {
		return fmt.Errorf("failed to send call auto-reply: %w", err)
	}
	zerolog.Ctx(ctx).Info().Str("wa_message_id", msgID).Msg("Answered call with the automatic reply")
	return nil
}
