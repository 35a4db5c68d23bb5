package portal

import (
	"context"
	"errors"
	"fmt"

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

// HandleMatrixEvent bridges one Matrix event from a real user. It reports whether the room is a
// portal; the event is handled (sent to WhatsApp, or failed) when the error is nil.
func (m *Manager) HandleMatrixEvent(ctx context.Context, evt *event.Event) (isPortal bool, err error) {
	p, err := m.GetByMXID(ctx, evt.RoomID)
	if err != nil || p == nil {
		return false, err
	}
	login := m.users.LoginByMXID(ctx, evt.Sender)
	if login == nil || login.OwnJID().IsEmpty() {
		return true, permanent(ErrNotLoggedIn)
	}
	return true, p.run(ctx, &matrixEvent{login: login, evt: evt})
}

func (p *Portal) handleMatrix(ctx context.Context, login Login, evt *event.Event) error {
	if done, err := p.alreadySent(ctx, evt.ID); err != nil || done {
		return err
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
	case event.StateRoomName, event.StateTopic:
		return p.handleMatrixGroupInfo(ctx, login, evt) // group_matrix.go
	case event.StateMember:
		return p.handleMatrixMember(ctx, login, evt)
	case event.StatePowerLevels:
		return p.handleMatrixPowerLevels(ctx, login, evt)
	case event.EventUnstablePollEnd:
		return permanent(errors.New("WhatsApp polls cannot be ended: votes can still be changed on WhatsApp"))
	}
	return nil
}

// alreadySent reports whether a Matrix event was already bridged (e.g. the homeserver repeated it).
func (p *Portal) alreadySent(ctx context.Context, eventID id.EventID) (bool, error) {
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
	waMsg, err := p.convertMatrix(ctx, login, evt.Type, content)
	if err != nil {
		return err
	}
	return p.sendToWhatsApp(ctx, login, evt, waMsg, &database.Message{})
}

// sendToWhatsApp sends waMsg with a message ID reserved in the outbox before the first attempt, so
// that a retry after a failure or a crash reuses the ID and WhatsApp never shows the message twice.
// With record set, the message is added to the message map (edits, reactions and votes are not
// messages): record's PollAnswers are kept, the other fields are filled here.
func (p *Portal) sendToWhatsApp(ctx context.Context, login Login, evt *event.Event, waMsg *waE2E.Message, record *database.Message) error {
	cli := login.Client()
	if cli == nil || !cli.IsLoggedIn() {
		return ErrNotConnected
	}
	out, _, err := p.m.db.Outbox.Reserve(ctx, &database.OutgoingMessage{
		EventID: evt.ID, Portal: p.Key, WAID: cli.GenerateMessageID(),
	})
	if err != nil {
		return fmt.Errorf("failed to reserve message ID: %w", err)
	}
	log := zerolog.Ctx(ctx).With().Str("wa_message_id", out.WAID).Logger()
	if record != nil {
		// In a chat with disappearing messages, WhatsApp's apps delete the message like their own.
		waMsg = msgconv.WithExpiration(waMsg, p.row.DisappearTimer)
	}
	resp, err := cli.SendMessage(ctx, p.Key.JID, waMsg, whatsmeow.SendRequestExtra{ID: out.WAID})
	if err != nil {
		if dbErr := p.m.db.Outbox.RecordAttempt(ctx, evt.ID, err); dbErr != nil {
			log.Err(dbErr).Msg("Failed to record send attempt")
		}
		return classifySendError(err, p.Key.JID) // send_errors.go
	}
	if record != nil {
		// The sender as WhatsApp addresses the user in this chat (phone number or LID), which a
		// quote of the message must name.
		sender := login.OwnJID()
		if !resp.Sender.IsEmpty() {
			sender = resp.Sender.ToNonAD()
		}
		err = p.m.db.Message.Insert(ctx, &database.Message{
			Portal: p.Key, WAID: out.WAID, Sender: sender, SenderMXID: evt.Sender,
			MXID: evt.ID, MXRoom: evt.RoomID, Timestamp: resp.Timestamp, IsFromMatrix: true,
			Quote: marshalQuote(ctx, msgconv.QuoteContent(waMsg)), Media: mediaContentJSON(evt.Content.AsMessage()),
			PollAnswers: record.PollAnswers,
		})
		if err != nil {
			return fmt.Errorf("failed to store message mapping: %w", err)
		}
	}
	if err = p.m.db.Outbox.MarkSent(ctx, evt.ID); err != nil {
		log.Err(err).Msg("Failed to mark outgoing message as sent")
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
	content := evt.Content.AsMessage()
	newContent := content.NewContent
	if newContent == nil {
		newContent = content
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
	cli := login.Client()
	if cli == nil {
		return ErrNotConnected
	}
	own := login.OwnJID()
	if err = p.sendToWhatsApp(ctx, login, evt, cli.BuildReaction(p.Key.JID, target.Sender, target.WAID, reactionToWhatsApp(rel.Key)), nil); err != nil {
		return err
	}
	return p.m.db.Reaction.Upsert(ctx, &database.Reaction{
		Portal: p.Key, TargetWAID: target.WAID, Sender: own, MXID: evt.ID, Emoji: reactionToWhatsApp(rel.Key), WAID: "",
	})
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
