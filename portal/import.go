package portal

import (
	"context"
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"
)

// Importing a chat export: the messages of a WhatsApp "Export chat" archive are posted as one
// event of the portal's queue, so live messages of the chat that arrive meanwhile wait and come
// after them. Where they go:
//   - into the portal room itself when it has no bridged messages yet (a new room): the imported
//     history is then simply the start of the room;
//   - otherwise into the portal's linked history room ("<chat> (WhatsApp history)"), created on
//     the first such import and announced in the portal room, because Matrix cannot insert
//     messages above ones a room already shows.
// Each message is recorded by its stable key (chatexport.Keys) after it is posted, and its
// transaction ID derives from the key: importing the same export again posts nothing, and an
// import cut short (a crash, the homeserver down) continues where it stopped when run again.

// ImportedMessage is one message of a chat export, ready to post.
type ImportedMessage struct {
	// Key is the message's stable key (chatexport.Keys).
	Key string
	// Time is when it was sent, from the export.
	Time time.Time
	// Sender is the WhatsApp JID of its sender (a contact, or the user's own JID for what the
	// user sent); empty when the export's name matched no one, then SenderName is shown.
	Sender     types.JID
	SenderName string
	Text       string
	// Notice marks a line WhatsApp wrote itself (posted by the bridge bot as a notice).
	Notice bool
	// File is the attachment, nil for none.
	File *ImportedFile
}

// ImportedFile is an attachment from the archive. Load reads it (once, when it is posted).
type ImportedFile struct {
	Name     string
	MimeType string
	MsgType  event.MessageType
	Load     func() ([]byte, error)
}

// ImportOptions are the settings of one import.
type ImportOptions struct {
	// ChatName names the history room when one is needed.
	ChatName string
	// Progress, if set, is called after each message with how many were handled so far.
	Progress func(done int)
}

// ImportResult counts what an import did.
type ImportResult struct {
	// Room is where the messages went; HistoryRoom says it is the linked history room rather than
	// the portal room.
	Room        id.RoomID
	HistoryRoom bool
	// Posted messages are new in Matrix, Media of them with their file; Duplicates were posted by
	// an earlier import.
	Posted, Media, Duplicates int
}

// importEvent is one export to import (import.go).
type importEvent struct {
	login  Login
	msgs   []ImportedMessage
	opts   ImportOptions
	result *ImportResult
}

func (*importEvent) kind() string { return "chat import" }

// ImportHistory posts msgs (one chat's export, oldest first) for chat, creating the portal room if
// needed, and waits until they are in Matrix. The result counts what was done even when an error
// stopped it part way; what was posted stays posted and is not posted again.
func (m *Manager) ImportHistory(ctx context.Context, login Login, chat types.JID, msgs []ImportedMessage, opts ImportOptions) (ImportResult, error) {
	var result ImportResult
	err := m.runInChat(ctx, login, chat, &importEvent{login: login, msgs: msgs, opts: opts, result: &result})
	return result, err
}

func (p *Portal) handleImport(ctx context.Context, evt *importEvent) error {
	if err := p.ensureRoom(ctx, evt.login); err != nil {
		return err
	}
	res := evt.result
	room, history, err := p.importRoom(ctx, evt.login, evt.opts.ChatName)
	if err != nil {
		return err
	}
	res.Room, res.HistoryRoom = room, history
	for i, msg := range evt.msgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if seen, err := p.m.db.Import.Exists(ctx, p.Key, msg.Key); err != nil {
			return err
		} else if seen {
			res.Duplicates++
		} else {
			evtID, err := p.postImported(ctx, evt.login, room, msg)
			if err != nil {
				return fmt.Errorf("failed to import message of %s: %w", msg.Time.Format(time.DateTime), err)
			}
			if err = p.m.db.Import.Insert(ctx, p.Key, msg.Key, room, evtID, msg.Time); err != nil {
				return err
			}
			res.Posted++
			if msg.File != nil {
				res.Media++
			}
		}
		if evt.opts.Progress != nil {
			evt.opts.Progress(i + 1)
		}
	}
	zerolog.Ctx(ctx).Info().Int("posted", res.Posted).Int("duplicates", res.Duplicates).Bool("history_room", history).
		Msg("Imported chat export")
	return nil
}

// importRoom finds where imported messages go: the linked history room if there is one, else the
// portal room while it has no bridged messages, else a new linked history room.
func (p *Portal) importRoom(ctx context.Context, login Login, chatName string) (id.RoomID, bool, error) {
	if room, err := p.m.db.Import.Room(ctx, p.Key); err != nil || room != "" {
		if err == nil && chatName != "" {
			// The chat may have been renamed (or its contact saved) since the room was made.
			_, err := p.m.matrix.SetState(ctx, p.m.matrix.BotMXID(), room, event.StateRoomName, "",
				&event.RoomNameEventContent{Name: chatName + " (WhatsApp history)"}, 0)
			if err != nil {
				zerolog.Ctx(ctx).Warn().Err(err).Stringer("history_room", room).Msg("Failed to rename the history room")
			}
		}
		return room, room != "", err
	}
	if last, err := p.m.db.Message.GetLastInPortal(ctx, p.Key); err != nil {
		return "", false, err
	} else if last == nil {
		return p.row.MXID, false, nil
	}
	bot := p.m.matrix.BotMXID()
	if chatName == "" {
		chatName = p.row.Name
	}
	if chatName == "" {
		chatName = p.Key.JID.User
	}
	portalLink := p.row.MXID.URI().MatrixToURL()
	room, err := p.m.matrix.CreateRoom(ctx, bot, &mautrix.ReqCreateRoom{
		Visibility: "private",
		Preset:     "private_chat",
		Name:       chatName + " (WhatsApp history)",
		Topic:      "Messages imported from a WhatsApp chat export. The chat itself: " + portalLink,
		Invite:     []id.UserID{login.UserMXID()},
		PowerLevelOverride: &event.PowerLevelsEventContent{
			Users: map[id.UserID]int{bot: powerSuperuser, login.UserMXID(): powerAdmin},
		},
	})
	if err != nil {
		return "", false, fmt.Errorf("failed to create history room: %w", err)
	}
	if err = p.m.db.Import.SetRoom(ctx, p.Key, room); err != nil {
		return "", false, err
	}
	text := fmt.Sprintf("History imported from a chat export is in [%s (WhatsApp history)](%s), since this room already has messages.",
		chatName, room.URI().MatrixToURL())
	content := format.RenderMarkdown(text, true, false)
	content.MsgType = event.MsgNotice
	if _, err = p.m.matrix.SendEvent(ctx, bot, p.row.MXID, event.EventMessage, &content, 0, "mw.importroom."+room.String()); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to link the history room from the portal")
	}
	return room, true, nil
}

// postImported sends one imported message to room as its sender's ghost (the bot for lines
// WhatsApp wrote and for names that matched no one, with the name in front).
func (p *Portal) postImported(ctx context.Context, login Login, room id.RoomID, msg ImportedMessage) (id.EventID, error) {
	sender := p.m.matrix.BotMXID()
	prefix := ""
	switch {
	case msg.Notice:
	case msg.Sender.IsEmpty():
		prefix = msg.SenderName
	default:
		ghost, err := p.m.puppets.Get(ctx, msg.Sender, login.LIDs())
		if err != nil {
			return "", err
		}
		if err = ghost.EnsureRegistered(ctx); err != nil {
			return "", fmt.Errorf("failed to register ghost: %w", err)
		}
		sender = ghost.MXID
	}
	content := &event.MessageEventContent{MsgType: event.MsgText, Body: msg.Text}
	if msg.Notice {
		content.MsgType = event.MsgNotice
	}
	if msg.File != nil {
		data, err := msg.File.Load()
		if err != nil {
			return "", fmt.Errorf("failed to read %s from the archive: %w", msg.File.Name, err)
		}
		uri, err := p.m.matrix.Upload(ctx, sender, data, msg.File.MimeType, msg.File.Name)
		if err != nil {
			return "", err
		}
		content.MsgType, content.URL, content.FileName = msg.File.MsgType, uri.CUString(), msg.File.Name
		content.Info = &event.FileInfo{MimeType: msg.File.MimeType, Size: len(data)}
		if content.Body == "" {
			content.Body = msg.File.Name
		}
	}
	if prefix != "" {
		if msg.File == nil {
			content.Format, content.FormattedBody = event.FormatHTML, "<strong>"+escapeHTML(prefix)+"</strong>: "+escapeHTML(content.Body)
		}
		content.Body = prefix + ": " + content.Body
	}
	txnID := fmt.Sprintf("mw.import.%s.%s.%s", p.Key.JID.User, p.Key.Receiver.User, msg.Key)
	return p.m.matrix.SendEvent(ctx, sender, room, event.EventMessage, content, msg.Time.UnixMilli(), txnID)
}

// escapeHTML escapes text for a formatted body, keeping line breaks.
func escapeHTML(text string) string {
	return strings.ReplaceAll(html.EscapeString(text), "\n", "<br>")
}
