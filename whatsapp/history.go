package whatsapp

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/proto/waWeb"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// HistoryChunk is one history sync chunk from the account's phone (whatsmeow events.HistorySync),
// with its messages parsed into the same events.Message form live messages have.
type HistoryChunk struct {
	// Type is INITIAL_BOOTSTRAP, RECENT, FULL or ON_DEMAND (PUSH_NAME chunks are handled by
	// whatsmeow and not handed on).
	Type waHistorySync.HistorySync_HistorySyncType
	// Progress is the phone's progress through its history, 0-100; 100 marks the last chunk.
	Progress uint32
	// ChunkOrder is the chunk's number within its sync type, from the phone.
	ChunkOrder uint32
	// Chats are the conversations in the chunk, in the phone's order (most recent first).
	Chats []HistoryChat
	// Raw is the chunk as the phone sent it (a marshalled waHistorySync.HistorySync), for keeping
	// it until it is bridged; ParseStoredHistory reads it back.
	Raw []byte
}

// HistoryChat is one conversation of a history chunk.
type HistoryChat struct {
	// JID is the chat: a user (phone JID or LID) or a group.
	JID types.JID
	// Name is a group's subject as the phone knows it (may be empty).
	Name string
	// Archived says the chat is in the phone's archive.
	Archived bool
	// LastActivity is when the chat's newest message was sent (zero when unknown).
	LastActivity time.Time
	// Messages are the chat's messages, oldest first. A reaction stored on its target message
	// comes as a reaction message right after it; an edit as a MESSAGE_EDIT protocol message;
	// a message deleted for everyone is left out.
	Messages []*events.Message
	// Unparsable counts messages whatsmeow could not parse (no sender, bad JID).
	Unparsable int
}

// onHistorySync notes the push names of a history sync chunk's senders and hands the chunk on.
// Push-name chunks are whatsmeow's own business.
func (l *Login) onHistorySync(ctx context.Context, cli *whatsmeow.Client, evt *events.HistorySync) bool {
	if evt.Data.GetSyncType() == waHistorySync.HistorySync_PUSH_NAME {
		return true
	}
	chunk := parseHistory(ctx, cli, evt.Data)
	if raw, err := proto.Marshal(evt.Data); err == nil {
		chunk.Raw = raw
	}
	for _, chat := range chunk.Chats {
		for _, msg := range chat.Messages {
			if !msg.Info.IsFromMe && msg.Info.PushName != "" {
				l.contacts.notePushName(Sender(msg.Info), msg.Info.PushName)
			}
		}
	}
	return l.settle(ctx, evt, l.opts.Handler.HandleHistorySync(ctx, chunk), true)
}

// ParseStoredHistory reads back a chunk kept from HistoryChunk.Raw. It needs the connection
// (whatsmeow parses messages with the account's store) and fails with ErrNotLoggedIn without one.
func (l *Login) ParseStoredHistory(ctx context.Context, raw []byte) (*HistoryChunk, error) {
	cli := l.Client()
	if cli == nil {
		return nil, ErrNotLoggedIn
	}
	var data waHistorySync.HistorySync
	if err := proto.Unmarshal(raw, &data); err != nil {
		return nil, fmt.Errorf("failed to read stored history chunk: %w", err)
	}
	chunk := parseHistory(ctx, cli, &data)
	chunk.Raw = raw
	return chunk, nil
}

// parseHistory turns a history sync blob into a HistoryChunk with cli.ParseWebMessage.
func parseHistory(ctx context.Context, cli *whatsmeow.Client, data *waHistorySync.HistorySync) *HistoryChunk {
	chunk := &HistoryChunk{Type: data.GetSyncType(), Progress: data.GetProgress(), ChunkOrder: data.GetChunkOrder()}
	for _, conv := range data.GetConversations() {
		jid, err := types.ParseJID(conv.GetID())
		if err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Str("chat", conv.GetID()).Msg("Skipping history of chat with a bad JID")
			continue
		}
		chat := HistoryChat{JID: jid, Name: conv.GetName(), Archived: conv.GetArchived()}
		if ts := conv.GetConversationTimestamp(); ts > 0 {
			chat.LastActivity = time.Unix(int64(ts), 0)
		}
		webs := make([]*waWeb.WebMessageInfo, 0, len(conv.GetMessages()))
		for _, m := range conv.GetMessages() {
			if m.GetMessage() != nil {
				webs = append(webs, m.GetMessage())
			}
		}
		slices.SortStableFunc(webs, func(a, b *waWeb.WebMessageInfo) int {
			return int(int64(a.GetMessageTimestamp()) - int64(b.GetMessageTimestamp()))
		})
		for _, web := range webs {
			if web.GetMessage() == nil {
				continue // a deletion stub or a system message: nothing to show
			}
			evt, err := cli.ParseWebMessage(jid, web)
			if err != nil {
				chat.Unparsable++
				continue
			}
			if evt.Info.ID != web.GetKey().GetID() {
				// whatsmeow files an edit under its target's ID with the new content; keep it an
				// edit of its own so that it changes the message rather than replacing it.
				evt.Info.ID = web.GetKey().GetID()
				evt.Message = evt.RawMessage
				if inner := evt.Message.GetEditedMessage().GetMessage(); inner != nil {
					evt.Message = inner
				}
			}
			chat.Messages = append(chat.Messages, evt)
			for i, r := range web.GetReactions() {
				if reaction := historyReaction(cli, evt, r, i); reaction != nil {
					chat.Messages = append(chat.Messages, reaction)
				}
			}
		}
		// Reactions and edits come after what they change, so a stable sort by time keeps them so.
		slices.SortStableFunc(chat.Messages, func(a, b *events.Message) int { return a.Info.Timestamp.Compare(b.Info.Timestamp) })
		if chat.LastActivity.IsZero() && len(chat.Messages) > 0 {
			chat.LastActivity = chat.Messages[len(chat.Messages)-1].Info.Timestamp
		}
		chunk.Chats = append(chunk.Chats, chat)
	}
	return chunk
}

// historyReaction is a reaction stored on target as the reaction message it was, with the
// reaction's own message ID (or, when the phone kept none, one made from the target's and index).
func historyReaction(cli *whatsmeow.Client, target *events.Message, r *waWeb.Reaction, index int) *events.Message {
	info := target.Info
	info.ID = r.GetKey().GetID()
	if info.ID == "" {
		info.ID = fmt.Sprintf("%s-reaction-%d", target.Info.ID, index)
	}
	info.IsFromMe = r.GetKey().GetFromMe()
	switch {
	case info.IsFromMe:
		info.Sender = cli.Store.GetJID().ToNonAD()
	case r.GetKey().GetParticipant() != "":
		sender, err := types.ParseJID(r.GetKey().GetParticipant())
		if err != nil {
			return nil
		}
		info.Sender = sender
	case !info.IsGroup:
		info.Sender = info.Chat
	default:
		return nil
	}
	info.SenderAlt = types.EmptyJID
	info.PushName = ""
	if ms := r.GetSenderTimestampMS(); ms > 0 {
		info.Timestamp = time.UnixMilli(ms)
	}
	msg := &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
		Key: &waCommon.MessageKey{
			RemoteJID: proto.String(target.Info.Chat.String()), FromMe: proto.Bool(target.Info.IsFromMe), ID: proto.String(target.Info.ID),
		},
		Text: r.Text, SenderTimestampMS: r.SenderTimestampMS,
	}}
	return &events.Message{Info: info, Message: msg, RawMessage: msg}
}
