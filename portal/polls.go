package portal

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// Polls are bridged as MSC3381 polls both ways. A poll's message map row keeps the WhatsApp poll
// (its options, as the quote content) and the Matrix answer IDs of its options, so that votes map
// between Matrix answer IDs and WhatsApp's option hashes. WhatsApp votes are encrypted with the
// poll's message secret, which whatsmeow keeps for every poll it sent or received.

// handleMatrixPollStart sends a Matrix poll to WhatsApp as a WhatsApp poll.
func (p *Portal) handleMatrixPollStart(ctx context.Context, login Login, evt *event.Event) error {
	content, ok := evt.Content.Parsed.(*event.PollStartEventContent)
	if !ok {
		return permanent(errors.New("the poll's content could not be read"))
	}
	poll, err := msgconv.PollFromMatrix(content)
	if err != nil {
		return conversionError(err)
	}
	cli := login.Client()
	if cli == nil {
		return ErrNotConnected
	}
	waMsg := cli.BuildPollCreation(poll.Question, poll.Options, poll.Selectable)
	return p.sendToWhatsApp(ctx, login, evt, waMsg, &database.Message{PollAnswers: poll.AnswerIDs})
}

// pollOf returns the WhatsApp poll a message map row was bridged from or to; nil when the row is
// not a poll.
func pollOf(row *database.Message) *waE2E.PollCreationMessage {
	if row == nil || row.Part != 0 {
		return nil
	}
	return msgconv.PollCreation(unmarshalQuote(row.Quote))
}

// handleMatrixPollResponse sends a Matrix vote to WhatsApp, encrypted with the poll's secret. An
// empty answer list takes the vote back.
func (p *Portal) handleMatrixPollResponse(ctx context.Context, login Login, evt *event.Event) error {
	content, ok := evt.Content.Parsed.(*event.PollResponseEventContent)
	if !ok {
		return permanent(errors.New("the vote's content could not be read"))
	}
	target, err := p.m.db.Message.GetByMXID(ctx, content.RelatesTo.EventID)
	if err != nil {
		return err
	}
	poll := pollOf(target)
	if poll == nil {
		return permanent(errors.New("the poll you voted in was never bridged to WhatsApp"))
	}
	names, err := msgconv.PollVoteFromMatrix(poll, target.PollAnswers, content.Response.Answers)
	if err != nil {
		return conversionError(err)
	}
	cli := login.Client()
	if cli == nil {
		return ErrNotConnected
	}
	pollInfo := &types.MessageInfo{ID: target.WAID, MessageSource: types.MessageSource{
		Chat: p.Key.JID, Sender: target.Sender, IsFromMe: p.isOwnJID(ctx, login, target.Sender), IsGroup: p.IsGroup(),
	}}
	waMsg, err := cli.BuildPollVote(ctx, pollInfo, names)
	if errors.Is(err, whatsmeow.ErrOriginalMessageSecretNotFound) {
		return permanent(errors.New("this WhatsApp device does not have the poll's key, so the vote cannot be sent; vote on your phone"))
	} else if err != nil {
		return fmt.Errorf("failed to build poll vote: %w", err)
	}
	return p.sendToWhatsApp(ctx, login, evt, waMsg, nil)
}

// handleWAPollVote shows a WhatsApp vote as an MSC3381 response of the sender's ghost, which Matrix
// clients count instead of the ghost's earlier vote. A vote on a poll that was never bridged, or one
// that cannot be decrypted (the poll's secret is unknown), is logged and dropped: it would never
// become readable.
func (p *Portal) handleWAPollVote(ctx context.Context, login Login, sender *puppet.Puppet, evt *events.Message) error {
	log := zerolog.Ctx(ctx)
	pollID := evt.Message.GetPollUpdateMessage().GetPollCreationMessageKey().GetID()
	parts, err := p.m.db.Message.GetByWAID(ctx, p.Key, pollID)
	if err != nil {
		return err
	}
	if len(parts) == 0 || pollOf(parts[0]) == nil {
		log.Debug().Str("poll_id", pollID).Msg("Vote on a poll that was not bridged, ignoring")
		return nil
	}
	cli := login.Client()
	if cli == nil {
		return ErrNotConnected
	}
	vote, err := cli.DecryptPollVote(ctx, evt)
	if err != nil {
		log.Warn().Err(err).Str("poll_id", pollID).Msg("Failed to decrypt poll vote, dropping it")
		return nil
	}
	resp := msgconv.PollVoteToMatrix(pollOf(parts[0]), parts[0].PollAnswers, parts[0].MXID, vote)
	info := evt.Info
	if _, err = p.m.matrix.SendEvent(ctx, sender.MXID, p.row.MXID, event.EventUnstablePollResponse, resp,
		info.Timestamp.UnixMilli(), p.txnID(info.ID, 0)); err != nil {
		return fmt.Errorf("failed to send poll vote to Matrix: %w", err)
	}
	log.Debug().Str("poll_id", pollID).Int("answers", len(resp.Response.Answers)).Msg("Bridged WhatsApp poll vote")
	return nil
}
