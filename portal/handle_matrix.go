package portal

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
)

// ErrNotLoggedIn means the sender of a Matrix event in a portal has no WhatsApp login.
var ErrNotLoggedIn = errors.New("you are not logged in to WhatsApp, so your messages here cannot be bridged")

// ErrNotYourChat means the sender of a Matrix event in a 1:1 portal is logged in to another
// WhatsApp account than the one the chat belongs to.
var ErrNotYourChat = errors.New("this chat belongs to another user's WhatsApp account, so your messages here are not bridged")

// HandleMatrixEvent bridges one Matrix event from a real user. It reports whether the room is a
// portal; the event is handled (sent to WhatsApp, or failed) when the error is nil.
func (m *Manager) HandleMatrixEvent(ctx context.Context, evt *event.Event) (isPortal bool, err error) {
	p, err := m.GetByMXID(ctx, evt.RoomID)
	if err != nil || p == nil {
		return false, err
	}
	login := m.users.LoginByMXID(ctx, evt.Sender, p.Key)
	if login == nil || login.OwnJID().IsEmpty() {
		if m.mayRelay(evt) { // relay.go: the portal decides whether it has a relay
			return true, p.run(ctx, &matrixEvent{evt: evt, relayed: true})
		}
		return true, permanent(ErrNotLoggedIn)
	}
	if !p.Key.Receiver.IsEmpty() && login.OwnJID().ToNonAD() != p.Key.Receiver.ToNonAD() {
		// A 1:1 chat belongs to one WhatsApp account: another bridge user invited into its room
		// must not write to the contact from their own account.
		return true, permanent(ErrNotYourChat)
	}
	return true, p.run(ctx, &matrixEvent{login: login, evt: evt})
}

func (p *Portal) handleMatrix(ctx context.Context, login Login, evt *event.Event) error {
	if done, err := p.alreadySent(ctx, evt.ID); err != nil || done {
		return err
	}
	if p.IsStatus() {
		return refuseInStatusRoom(evt) // status.go
	}
	switch evt.Type {
	case event.EventMessage, event.EventSticker:
		content := evt.Content.AsMessage()
		if target := content.RelatesTo.GetReplaceID(); target != "" {
			return p.handleMatrixEdit(ctx, login, evt, target)
		}
		return p.handleMatrixMessage(ctx, login, evt)
	case event.EventReaction:
		return p.handleMatrixReaction(ctx, login, evt)
	case event.EventRedaction:
		return p.handleMatrixRedaction(ctx, login, evt)
	case event.EventUnstablePollStart:
		return p.handleMatrixPollStart(ctx, login, evt) // polls.go
	case event.EventUnstablePollResponse:
		return p.handleMatrixPollResponse(ctx, login, evt)
	case msgconv.EventPollStart:
		content, err := msgconv.PollStartFromStable(evt.Content.VeryRaw)
		if err != nil {
			return conversionError(err)
		}
		evt.Content.Parsed = content
		return p.handleMatrixPollStart(ctx, login, evt)
	case msgconv.EventPollResponse:
		content, err := msgconv.PollResponseFromStable(evt.Content.VeryRaw)
		if err != nil {
			return conversionError(err)
		}
		evt.Content.Parsed = content
		return p.handleMatrixPollResponse(ctx, login, evt)
	case event.StateRoomName, event.StateTopic, event.StateRoomAvatar:
		return p.handleMatrixGroupInfo(ctx, login, evt) // group_matrix.go
	case event.StateMember:
		return p.handleMatrixMember(ctx, login, evt)
	case event.StatePowerLevels:
		return p.handleMatrixPowerLevels(ctx, login, evt)
	case event.EventUnstablePollEnd, msgconv.EventPollEnd:
		return permanent(errors.New("WhatsApp polls cannot be ended: votes can still be changed on WhatsApp"))
	}
	return nil
}

// unbridgedKey is the ctx key of WithUnbridged.
type unbridgedKey struct{}

// WithUnbridged returns ctx marked as the first handling of Matrix event eventID, known not to be
// bridged (database.InboxEvent.Unbridged: its inbox row was stored when the message map had no row
// of it). Its handling then does not look it up in the message map first.
func WithUnbridged(ctx context.Context, eventID id.EventID) context.Context {
	return context.WithValue(ctx, unbridgedKey{}, eventID)
}

// alreadySent reports whether a Matrix event was already bridged (e.g. the homeserver repeated it):
// whether the message map has a row of it, unless ctx says it has none (WithUnbridged).
func (p *Portal) alreadySent(ctx context.Context, eventID id.EventID) (bool, error) {
	if known, _ := ctx.Value(unbridgedKey{}).(id.EventID); known == eventID {
		return false, nil
	}
	msg, err := p.m.db.Message.GetByMXID(ctx, eventID)
	if err != nil {
		return false, err
	}
	if msg != nil {
		zerolog.Ctx(ctx).Debug().Msg("Matrix event already bridged, ignoring repeat")
	}
	return msg != nil, nil
}

func (p *Portal) handleMatrixMessage(ctx context.Context, login Login, evt *event.Event) error {
	content := evt.Content.AsMessage()
	var notes []string
	waMsg, err := p.convertMatrix(ctx, login, evt.Type, content, func(text string) { notes = append(notes, text) })
	if err != nil {
		return err
	}
	sent, err := p.sendWhatsApp(ctx, login, evt, waMsg, true)
	if err != nil {
		return err
	}
	// Before the message is recorded, so that a crash in between sends the notes again (their
	// transaction IDs keep them single) rather than never.
	p.sendNotes(ctx, evt, notes) // convert_matrix.go
	return p.recordSent(ctx, login, evt, sent, &database.Message{})
}

// sentMessage is a Matrix event WhatsApp accepted: the message as sent, its ID and WhatsApp's answer.
// reserved is set when the ID came from an outbox row of an earlier version (outgoing_id.go).
type sentMessage struct {
	waMsg    *waE2E.Message
	waID     types.MessageID
	resp     whatsmeow.SendResponse
	reserved bool
}

// sendToWhatsApp sends waMsg and records it (sendWhatsApp, then recordSent). With record set, the
// message is added to the message map (edits, reactions and votes are not messages): record's
// PollAnswers are kept, the other fields are filled here.
func (p *Portal) sendToWhatsApp(ctx context.Context, login Login, evt *event.Event, waMsg *waE2E.Message, record *database.Message) error {
	sent, err := p.sendWhatsApp(ctx, login, evt, waMsg, record != nil)
	if err != nil {
		return err
	}
	return p.recordSent(ctx, login, evt, sent, record)
}

// sendWhatsApp sends waMsg with the message ID derived from the event (OutgoingMessageID), so that a
// retry after a failure or a crash reuses the ID and WhatsApp never shows the message twice.
// A message (isMessage; not an edit, reaction or vote) takes the chat's disappearing timer.
func (p *Portal) sendWhatsApp(ctx context.Context, login Login, evt *event.Event, waMsg *waE2E.Message, isMessage bool) (*sentMessage, error) {
	if p.IsStatus() {
		return nil, permanent(ErrStatusRoomReadOnly) // status.go: whatever path led here, nothing goes out
	}
	cli := login.Client()
	if cli == nil || !cli.IsLoggedIn() {
		return nil, ErrNotConnected
	}
	waID, reserved := p.m.outgoingID(login, evt.ID)
	if isMessage {
		// In a chat with disappearing messages, WhatsApp's apps delete the message like their own.
		waMsg = msgconv.WithExpiration(waMsg, p.row.DisappearTimer)
	}
	resp, err := cli.SendMessage(ctx, p.Key.JID, waMsg, whatsmeow.SendRequestExtra{ID: waID})
	if err != nil {
		zerolog.Ctx(ctx).Debug().Err(err).Str("wa_message_id", waID).Msg("WhatsApp send failed")
		return nil, classifySendError(err, p.Key.JID) // send_errors.go
	}
	return &sentMessage{waMsg: waMsg, waID: waID, resp: resp, reserved: reserved}, nil
}

// recordSent records a send WhatsApp accepted: the outbox row becomes sent and, with record set,
// the message map gets the message, in one transaction that also settles the event's inbox row
// (settle.go).
func (p *Portal) recordSent(ctx context.Context, login Login, evt *event.Event, sent *sentMessage, record *database.Message) error {
	log := zerolog.Ctx(ctx).With().Str("wa_message_id", sent.waID).Logger()
	if record == nil {
		// More writes follow (the edit, the reaction); the inbox settles the event itself.
		if sent.reserved {
			if err := p.m.db.Outbox.MarkSent(ctx, evt.ID); err != nil {
				log.Err(err).Msg("Failed to mark outgoing message as sent")
			}
		}
		log.Debug().Msg("Bridged Matrix event to WhatsApp")
		return nil
	}
	// The sender as WhatsApp addresses the user in this chat (phone number or LID), which a quote
	// of the message must name.
	sender := login.OwnJID()
	if !sent.resp.Sender.IsEmpty() {
		sender = sent.resp.Sender.ToNonAD()
	}
	ts := sent.resp.Timestamp
	msg := &database.Message{
		Portal: p.Key, WAID: sent.waID, Sender: sender, SenderMXID: evt.Sender,
		MXID: evt.ID, MXRoom: evt.RoomID, Timestamp: ts, IsFromMatrix: true,
		Quote: marshalQuote(ctx, msgconv.QuoteContent(sent.waMsg)), Media: mediaContentJSON(evt.Content.AsMessage()),
		PollAnswers: record.PollAnswers, ExpiresAt: p.expiresAfter(ts, p.row.DisappearTimer),
	}
	var err error
	if sent.reserved {
		// An ID reserved by an earlier version (outbox row) is marked sent with the mapping.
		err = p.writeOutcome(ctx, evt.ID.String(), func(ctx context.Context) error {
			if err := p.m.db.Message.Insert(ctx, msg); err != nil {
				return err
			}
			if err := p.m.db.Outbox.MarkSent(ctx, evt.ID); err != nil {
				return fmt.Errorf("failed to mark outgoing message as sent: %w", err)
			}
			return nil
		})
	} else {
		err = p.insertOutcome(ctx, evt.ID.String(), msg)
	}
	if err != nil {
		return fmt.Errorf("failed to store message mapping: %w", err)
	}
	log.Debug().Msg("Bridged Matrix event to WhatsApp")
	return nil
}

func (p *Portal) handleMatrixEdit(ctx context.Context, login Login, evt *event.Event, targetID id.EventID) error {
	target, err := p.m.db.Message.GetByMXID(ctx, targetID)
	if err != nil {
		return err
	}
	if target == nil {
		return permanent(fmt.Errorf("the edited message was never bridged to WhatsApp"))
	}
	if !p.isOwnJID(ctx, login, target.Sender) {
		return permanent(errors.New("WhatsApp only lets you edit your own messages"))
	}
	// The edit's body is a fallback for clients without edits ("* " and the new text); the new
	// text itself is only in m.new_content (Client-Server API, "Event replacements").
	newContent := evt.Content.AsMessage().NewContent
	if newContent == nil {
		return permanent(errors.New("the edit has no new content (m.new_content)"))
	}
	waMsg, err := p.convertMatrixText(ctx, login, newContent)
	if err != nil {
		return err
	}
	cli := login.Client()
	if cli == nil {
		return ErrNotConnected
	}
	if err = p.sendToWhatsApp(ctx, login, evt, cli.BuildEdit(p.Key.JID, target.WAID, waMsg), nil); err != nil {
		return err
	}
	return p.recordMatrixEdit(ctx, evt, target, waMsg)
}

func (p *Portal) handleMatrixReaction(ctx context.Context, login Login, evt *event.Event) error {
	rel := evt.Content.AsReaction().RelatesTo
	target, err := p.m.db.Message.GetByMXID(ctx, rel.EventID)
	if err != nil {
		return err
	}
	if target == nil {
		return permanent(fmt.Errorf("the message you reacted to was never bridged to WhatsApp"))
	}
	if target.MediaExpired && isMediaRetryReaction(rel.Key) {
		// Not a reaction for WhatsApp: a request for the file (media_retry.go).
		return p.requestMedia(ctx, login, target, p.mediaRetryInfo(ctx, login, target))
	}
	cli := login.Client()
	if cli == nil {
		return ErrNotConnected
	}
	emoji := reactionToWhatsApp(rel.Key)
	if strings.TrimSpace(emoji) == "" {
		// An empty reaction is how WhatsApp takes a reaction back.
		return permanent(errors.New("the reaction is only an invisible character (such as the emoji variation selector U+FE0F), " +
			"and WhatsApp would take it as removing your reaction; react with an emoji"))
	} else if !looksLikeEmoji(rel.Key) {
		return permanent(errors.New("WhatsApp reactions are single emoji; react with one"))
	}
	own := login.OwnJID()
	previous, err := p.m.db.Reaction.Get(ctx, p.Key, target.WAID, own)
	if err != nil {
		return err
	}
	if err = p.sendToWhatsApp(ctx, login, evt, cli.BuildReaction(p.Key.JID, target.Sender, target.WAID, emoji), nil); err != nil {
		return err
	}
	if err = p.m.db.Reaction.Upsert(ctx, &database.Reaction{
		Portal: p.Key, TargetWAID: target.WAID, Sender: own, MXID: evt.ID, Emoji: emoji, WAID: "",
	}); err != nil {
		return err
	}
	if previous != nil && previous.MXID != "" && previous.MXID != evt.ID {
		// WhatsApp keeps one reaction per person and message: the new one replaced the old there,
		// so the old one goes in Matrix too.
		if err = p.m.matrix.Redact(ctx, p.m.matrix.BotMXID(), p.row.MXID, previous.MXID, "mw.replaced."+evt.ID.String()); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Stringer("old_reaction", previous.MXID).Msg("Failed to redact replaced reaction")
		}
	}
	return nil
}

// handleMatrixRedaction deletes a message for everyone on WhatsApp, or removes a reaction.
func (p *Portal) handleMatrixRedaction(ctx context.Context, login Login, evt *event.Event) error {
	redacts := evt.Redacts
	if redacts == "" {
		redacts = evt.Content.AsRedaction().Redacts
	}
	cli := login.Client()
	if cli == nil {
		return ErrNotConnected
	}
	if target, err := p.m.db.Message.GetByMXID(ctx, redacts); err != nil {
		return err
	} else if target != nil {
		// WhatsApp's revoke names the author: none for one's own message, the author's JID for a
		// group admin deleting someone else's (whatsmeow BuildRevoke). In a direct chat only one's
		// own messages can be deleted for everyone.
		author := types.EmptyJID
		if !p.isOwnJID(ctx, login, target.Sender) {
			if !p.IsGroup() {
				return permanent(errors.New("WhatsApp only lets you delete your own messages in a direct chat"))
			}
			author = target.Sender
		}
		if err = p.sendToWhatsApp(ctx, login, evt, cli.BuildRevoke(p.Key.JID, author, target.WAID), nil); err != nil {
			return err
		}
		if err = p.m.db.Edit.Delete(ctx, p.Key, target.WAID); err != nil {
			return err
		}
		return p.m.db.Message.Delete(ctx, p.Key, target.WAID)
	}
	if reaction, err := p.m.db.Reaction.GetByMXID(ctx, redacts); err != nil {
		return err
	} else if reaction != nil {
		if !p.isOwnJID(ctx, login, reaction.Sender) {
			return permanent(errors.New("only your own reactions can be removed on WhatsApp"))
		}
		parts, err := p.m.db.Message.GetByWAID(ctx, p.Key, reaction.TargetWAID)
		if err != nil || len(parts) == 0 {
			return err
		}
		msg := cli.BuildReaction(p.Key.JID, parts[0].Sender, reaction.TargetWAID, "")
		if err = p.sendToWhatsApp(ctx, login, evt, msg, nil); err != nil {
			return err
		}
		return p.m.db.Reaction.Delete(ctx, p.Key, reaction.TargetWAID, reaction.Sender)
	}
	zerolog.Ctx(ctx).Debug().Stringer("redacts", redacts).Msg("Redacted event was not bridged, ignoring")
	return nil
}

// isOwnJID reports whether jid (phone JID or LID, any device) is login's own account.
func (p *Portal) isOwnJID(ctx context.Context, login Login, jid types.JID) bool {
	own := login.OwnJID()
	jid = jid.ToNonAD()
	if jid == own {
		return true
	}
	if jid.Server != types.HiddenUserServer {
		return false
	}
	lids := login.LIDs()
	if lids == nil {
		return false
	}
	pn, err := lids.GetPNForLID(ctx, jid)
	return err == nil && pn.ToNonAD() == own
}

// recordMatrixEdit records a Matrix edit sent to WhatsApp, so that a delete of the message redacts
// it too, and keeps the edited content as what replies quote.
func (p *Portal) recordMatrixEdit(ctx context.Context, evt *event.Event, target *database.Message, waMsg *waE2E.Message) error {
	err := p.m.db.Edit.Insert(ctx, &database.MessageEdit{Portal: p.Key, WAID: target.WAID, MXID: evt.ID, MXRoom: evt.RoomID, SenderMXID: evt.Sender})
	if err != nil {
		return fmt.Errorf("failed to record edit: %w", err)
	}
	if target.Part != 0 {
		return nil
	}
	if quote := msgconv.QuoteContent(waMsg); quote != nil {
		target.Quote = marshalQuote(ctx, quote)
		return p.m.db.Message.Update(ctx, target)
	}
	return nil
}
