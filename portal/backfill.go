package portal

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// Backfill: the history of one chat, as the phone sent it after a link, is bridged as a single
// event of the portal's queue. The room is created first if needed, then the messages are handled
// oldest first exactly as live messages are (handleWAMessage: the message map drops what is
// already bridged, replies, edits, reactions and deletions find their targets through it, each
// event carries WhatsApp's timestamp). Live messages of the chat that arrive meanwhile wait in the
// queue and come after the history. History the message map lacks fills the gap when it is newer
// than the room's newest message (e.g. missed while the bridge was down); messages older than
// that are not posted (Matrix would show them after it, out of order) but reported in one notice
// saying how many from when (reportGap).

// BackfillOptions limit the backfill of one chat.
type BackfillOptions struct {
	// Media bridges attachments; false turns each into a notice.
	Media bool
	// MediaLimit is how many attachments are bridged before the rest become notices (-1: no limit).
	MediaLimit int
	// Earlier marks history the user asked for (sync-history): it is older than the room's
	// messages, so it is posted after them under a notice saying so, instead of being left out.
	Earlier bool
}

// BackfillResult counts what a chat's backfill did.
type BackfillResult struct {
	// Bridged is how many messages (reactions, edits and deletions included) reached Matrix.
	Bridged int
	// Duplicates were already bridged (from an earlier chunk or live).
	Duplicates int
	// TooOld were older than the newest message already in the room, so not posted.
	TooOld int
	// MediaSkipped attachments became notices (media off or over the limit).
	MediaSkipped int
}

// historyEvent is one chat's history to backfill (backfill.go).
type historyEvent struct {
	login  Login
	msgs   []*events.Message
	opts   BackfillOptions
	result *BackfillResult
}

func (*historyEvent) kind() string { return "history backfill" }

// BackfillChat bridges msgs (one chat's history, oldest first) into the chat's portal, creating
// the room if needed, and waits until they are in Matrix. The result counts what was done even
// when an error stopped it part way; what was bridged stays bridged and is not sent again.
func (m *Manager) BackfillChat(ctx context.Context, login Login, chat types.JID, msgs []*events.Message, opts BackfillOptions) (BackfillResult, error) {
	var result BackfillResult
	err := m.runInChat(ctx, login, chat, &historyEvent{login: login, msgs: msgs, opts: opts, result: &result})
	return result, err
}

func (p *Portal) handleHistory(ctx context.Context, evt *historyEvent) error {
	if len(evt.msgs) == 0 {
		return nil
	}
	if err := p.ensureRoom(ctx, evt.login); err != nil {
		return err
	}
	var newest time.Time
	if last, err := p.m.db.Message.GetLastInPortal(ctx, p.Key); err != nil {
		return err
	} else if last != nil && !evt.opts.Earlier {
		newest = last.Timestamp
	}

	media := 0
	var tooOld []*events.Message
	res := evt.result
	announced := !evt.opts.Earlier
	for i, msg := range evt.msgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if seen, err := p.alreadyBridged(ctx, evt.login, msg); err != nil {
			return err
		} else if seen {
			res.Duplicates++
			continue
		}
		if !isRelation(msg.Message) && msg.Info.Timestamp.Before(newest) {
			res.TooOld++
			tooOld = append(tooOld, msg)
			continue
		}
		if kind := attachmentKind(msg.Message); kind != "" {
			media++
			if !evt.opts.Media || (evt.opts.MediaLimit >= 0 && media > evt.opts.MediaLimit) {
				msg = withoutAttachment(msg, kind, evt.opts.Media, evt.opts.MediaLimit)
				res.MediaSkipped++
			}
		}
		if !announced {
			if err := p.announceEarlier(ctx, evt.msgs[i:]); err != nil {
				return err
			}
			announced = true
		}
		if err := p.handleWAMessage(ctx, evt.login, msg); err != nil {
			return fmt.Errorf("failed to backfill message %s: %w", msg.Info.ID, err)
		}
		res.Bridged++
		if !isRelation(msg.Message) && msg.Info.Timestamp.After(newest) {
			newest = msg.Info.Timestamp
		}
	}
	if len(tooOld) > 0 {
		if err := p.reportGap(ctx, tooOld); err != nil {
			return err
		}
	}
	zerolog.Ctx(ctx).Debug().Int("bridged", res.Bridged).Int("duplicates", res.Duplicates).Int("too_old", res.TooOld).
		Int("media_skipped", res.MediaSkipped).Msg("Backfilled chat history")
	return nil
}

// reportGap posts the missed-message notice for history the room cannot show in order: msgs
// (oldest first) were never bridged and are older than the room's newest message. Its
// transaction ID comes from the first of them, so a retry does not post it twice.
func (p *Portal) reportGap(ctx context.Context, msgs []*events.Message) error {
	first, last := msgs[0].Info.Timestamp.UTC(), msgs[len(msgs)-1].Info.Timestamp.UTC()
	what := "1 message"
	if len(msgs) > 1 {
		what = fmt.Sprintf("%d messages", len(msgs))
	}
	text := fmt.Sprintf("%s of this chat from %s to %s could not be brought over: they are older than the messages "+
		"this room already shows, and Matrix cannot insert them above those. Your phone still has them.",
		what, first.Format("2006-01-02 15:04"), last.Format("2006-01-02 15:04 MST"))
	content := &event.MessageEventContent{MsgType: event.MsgNotice, Body: text}
	_, err := p.m.matrix.SendEvent(ctx, p.m.matrix.BotMXID(), p.row.MXID, event.EventMessage, content, 0, p.txnID(msgs[0].Info.ID, -2))
	if err != nil {
		return fmt.Errorf("failed to report missed messages: %w", err)
	}
	return nil
}

// announceEarlier posts the notice that heads history the user asked for: how many messages from
// when to when. Its transaction ID comes from the first message, so a retry does not post it twice.
func (p *Portal) announceEarlier(ctx context.Context, msgs []*events.Message) error {
	content := &event.MessageEventContent{MsgType: event.MsgNotice, Body: earlierNotice(msgs)}
	_, err := p.m.matrix.SendEvent(ctx, p.m.matrix.BotMXID(), p.row.MXID, event.EventMessage, content, 0, p.txnID(msgs[0].Info.ID, -1))
	if err != nil {
		return fmt.Errorf("failed to announce earlier history: %w", err)
	}
	return nil
}

// earlierNotice is the text of announceEarlier: "Earlier messages of this chat from your phone
// (4 messages, 2024-03-01 10:00 to 2024-03-01 10:05 UTC); …", one time for one message or messages
// of one minute. msgs must not be empty.
func earlierNotice(msgs []*events.Message) string {
	first, last := msgs[0].Info.Timestamp.UTC(), msgs[len(msgs)-1].Info.Timestamp.UTC()
	what := "1 message"
	if len(msgs) > 1 {
		what = fmt.Sprintf("%d messages", len(msgs))
	}
	when := first.Format("2006-01-02 15:04") + " to " + last.Format("2006-01-02 15:04 MST")
	if first.Truncate(time.Minute).Equal(last.Truncate(time.Minute)) {
		when = "at " + first.Format("2006-01-02 15:04 MST")
	}
	return fmt.Sprintf("Earlier messages of this chat from your phone (%s, %s); they were sent before the messages above.", what, when)
}

// OldestMessage returns the chat and the oldest bridged message of the portal of roomID, the
// anchor of a request for earlier history; the message is nil when the room has none, and the
// chat is empty when roomID is no portal.
func (m *Manager) OldestMessage(ctx context.Context, roomID id.RoomID) (types.JID, *database.Message, error) {
	p, err := m.GetByMXID(ctx, roomID)
	if err != nil || p == nil {
		return types.EmptyJID, nil, err
	}
	msg, err := m.db.Message.GetFirstInPortal(ctx, p.Key)
	return p.Key.JID, msg, err
}

// alreadyBridged says the history message is in Matrix already: a message in the message map, an
// edit no newer than the target's last bridged edit, or the sender's reaction with the same ID.
func (p *Portal) alreadyBridged(ctx context.Context, login Login, msg *events.Message) (bool, error) {
	if exists, err := p.m.db.Message.Exists(ctx, p.Key, msg.Info.ID); err != nil || exists {
		return exists, err
	}
	if proto := msg.Message.GetProtocolMessage(); proto.GetType() == waE2E.ProtocolMessage_MESSAGE_EDIT {
		parts, err := p.m.db.Message.GetByWAID(ctx, p.Key, proto.GetKey().GetID())
		if err != nil || len(parts) == 0 {
			return false, err
		}
		return !parts[0].LastEdit.IsZero() && !parts[0].LastEdit.Before(msg.Info.Timestamp), nil
	}
	if reaction := msg.Message.GetReactionMessage(); reaction != nil {
		sender, err := p.senderGhost(ctx, login, msg.Info)
		if err != nil {
			return false, err
		}
		existing, err := p.m.db.Reaction.Get(ctx, p.Key, reaction.GetKey().GetID(), sender.JID)
		return existing != nil && existing.WAID == msg.Info.ID, err
	}
	return false, nil
}

// isRelation says msg changes another message (reaction, edit, deletion) rather than adding one.
func isRelation(msg *waE2E.Message) bool {
	return msg.GetReactionMessage() != nil || msg.GetProtocolMessage() != nil
}

// attachmentKind names the attachment msg carries ("" for none).
func attachmentKind(msg *waE2E.Message) string {
	switch {
	case msg.GetImageMessage() != nil:
		return "photo"
	case msg.GetVideoMessage() != nil:
		return "video"
	case msg.GetAudioMessage() != nil:
		return "audio message"
	case msg.GetDocumentMessage() != nil:
		return "file"
	case msg.GetStickerMessage() != nil:
		return "sticker"
	}
	return ""
}

// withoutAttachment is msg with its attachment replaced by a notice saying why (media off, or
// the per-chat limit reached), keeping the caption.
func withoutAttachment(msg *events.Message, kind string, mediaOn bool, limit int) *events.Message {
	text := fmt.Sprintf("(A %s from the chat history was not brought over: history media is turned off.)", kind)
	if mediaOn {
		text = fmt.Sprintf("(A %s from the chat history was not brought over: only %d files per chat are.)", kind, limit)
	}
	caption := msg.Message.GetImageMessage().GetCaption() + msg.Message.GetVideoMessage().GetCaption() +
		msg.Message.GetDocumentMessage().GetCaption()
	if caption != "" {
		text = caption + "\n" + text
	}
	clone := *msg
	clone.Message = &waE2E.Message{Conversation: proto.String(text)}
	return &clone
}
