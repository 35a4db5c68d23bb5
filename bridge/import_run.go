package bridge

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/chatexport"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
)

// importStats counts what turning an export into messages found.
type importStats struct {
	media, omitted, missing, deleted int
	// unmatched are the sender names that matched no contact, shown by name.
	unmatched []string
}

// importMessages turns a parsed export into the messages to post: senders matched to the user
// (own push name or number), to contacts (saved name, first name, push name or business name, or
// a phone number in the export), and in a DM a single remaining name to the contact of the chat;
// attachments read from the archive when it holds them.
func (br *Bridge) importMessages(ctx context.Context, user *Account, chat types.JID, parsed *chatexport.Result, archive *chatexport.Archive) ([]portal.ImportedMessage, importStats) {
	match := br.senderMatcher(ctx, user, chat, parsed.Messages)
	keys := chatexport.Keys(parsed.Messages)
	var stats importStats
	unmatched := map[string]bool{}
	out := make([]portal.ImportedMessage, 0, len(parsed.Messages))
	for i, m := range parsed.Messages {
		msg := portal.ImportedMessage{Key: keys[i], Time: m.Time, SenderName: m.Sender, Text: m.Text}
		if m.Kind == chatexport.KindSystem {
			msg.Notice = true
		} else if msg.Sender = match(m.Sender); msg.Sender.IsEmpty() && !unmatched[m.Sender] {
			unmatched[m.Sender] = true
			stats.unmatched = append(stats.unmatched, m.Sender)
		}
		switch m.Kind {
		case chatexport.KindDeleted:
			msg.Text = "This message was deleted."
			stats.deleted++
		case chatexport.KindMediaOmitted:
			msg.Text = "(A photo or file the export did not include.)"
			stats.omitted++
		case chatexport.KindMedia:
			if !archive.HasFile(m.Attachment) {
				msg.Text = strings.TrimSpace(fmt.Sprintf("(%s is not in the archive.)\n%s", m.Attachment, m.Text))
				stats.missing++
				break
			}
			name := m.Attachment
			kind, mimeType := chatexport.MediaKind(name)
			msgType := map[string]event.MessageType{"image": event.MsgImage, "sticker": event.MsgImage, "video": event.MsgVideo,
				"audio": event.MsgAudio}[kind]
			if msgType == "" {
				msgType = event.MsgFile
			}
			msg.File = &portal.ImportedFile{Name: name, MimeType: mimeType, MsgType: msgType, Load: func() ([]byte, error) {
				return archive.ReadFile(name)
			}}
			stats.media++
		}
		out = append(out, msg)
	}
	return out, stats
}

// senderMatcher returns the function that maps an export's sender name to a WhatsApp JID (empty
// when nothing matches).
func (br *Bridge) senderMatcher(ctx context.Context, user *Account, chat types.JID, msgs []chatexport.Message) func(string) types.JID {
	own := user.WAJID().ToNonAD()
	ownNames := map[string]bool{}
	for _, n := range []string{user.wa.OwnPushName(), user.OwnPushName()} {
		if n != "" {
			ownNames[strings.ToLower(n)] = true
		}
	}
	byName := map[string][]types.JID{}
	if contacts, err := br.listContacts(ctx, user, ""); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to read contacts for matching import senders")
	} else {
		for _, c := range contacts {
			seen := map[string]bool{}
			for _, n := range []string{c.Info.FullName, c.Info.FirstName, c.Info.PushName, c.Info.BusinessName} {
				if key := strings.ToLower(strings.TrimSpace(n)); key != "" && !seen[key] {
					seen[key] = true
					byName[key] = append(byName[key], c.JID)
				}
			}
		}
	}
	direct := func(name string) types.JID {
		if digits, ok := phoneDigits(name); ok {
			if digits == own.User {
				return own
			}
			return types.NewJID(digits, types.DefaultUserServer)
		}
		key := strings.ToLower(strings.TrimSpace(name))
		if ownNames[key] {
			return own
		}
		if jids := byName[key]; len(jids) == 1 {
			return jids[0]
		}
		return types.EmptyJID
	}
	// In a DM, one name left over is the chat's other person.
	var contact types.JID
	if chat.Server != types.GroupServer {
		left := map[string]bool{}
		for _, m := range msgs {
			if m.Kind != chatexport.KindSystem && m.Sender != "" && direct(m.Sender).IsEmpty() {
				left[m.Sender] = true
			}
		}
		if len(left) == 1 {
			contact = chat.ToNonAD()
		}
	}
	return func(name string) types.JID {
		if jid := direct(name); !jid.IsEmpty() {
			return jid
		}
		return contact
	}
}

// runImport posts the messages with a progress line (edited every historyProgressInterval) and
// then a summary, both answering the command.
func (ce *commandEvent) runImport(ctx context.Context, chat types.JID, chatName, fileName string, parsed *chatexport.Result, msgs []portal.ImportedMessage, stats importStats) {
	total := len(msgs)
	progressLine := func(done int) string {
		return fmt.Sprintf("Importing %s: %s of %s messages.", fileName, formatCount(done), formatCount(total))
	}
	progressID := ce.sendNotice(ctx, progressLine(0), "")
	var lock sync.Mutex
	lastEdit := time.Now()
	progress := func(done int) {
		lock.Lock()
		defer lock.Unlock()
		if progressID == "" || done == total || time.Since(lastEdit) < historyProgressInterval {
			return
		}
		lastEdit = time.Now()
		ce.sendNotice(ctx, progressLine(done), progressID)
	}
	var res portal.ImportResult
	err := ce.br.retryTransient(ctx, "import chat export", func() error {
		var err error
		res, err = ce.br.portals.ImportHistory(ctx, userLogin{ce.user}, chat, msgs, portal.ImportOptions{ChatName: chatName, Progress: progress})
		return err
	})
	if err != nil {
		zerolog.Ctx(ctx).Err(err).Stringer("chat", chat).Msg("Failed to import chat export")
		ce.reply(ctx, "The import of %s stopped after %s of %s messages: %v. What was imported stays; send `%simport` again to continue where it stopped.",
			fileName, formatCount(res.Posted+res.Duplicates), formatCount(total), err, ce.prefix())
		return
	}
	ce.reply(ctx, "%s", importSummary(fileName, parsed, res, stats, ce.roomID))
}

// importSummary is the notice that ends an import.
func importSummary(fileName string, parsed *chatexport.Result, res portal.ImportResult, stats importStats, commandRoom id.RoomID) string {
	var sb strings.Builder
	where := "this room"
	switch {
	case res.HistoryRoom:
		where = fmt.Sprintf("[the chat's history room](%s) (this chat already had messages)", res.Room.URI().MatrixToURL())
	case res.Room != commandRoom:
		where = fmt.Sprintf("[the chat's room](%s)", res.Room.URI().MatrixToURL())
	}
	if res.Posted == 0 && res.Duplicates > 0 {
		fmt.Fprintf(&sb, "Nothing new in %s: all %s were imported before.", fileName, plural(res.Duplicates, "message"))
	} else {
		fmt.Fprintf(&sb, "Imported %s (%s) into %s: %s", fileName, parsed.Format, where, plural(res.Posted, "message"))
		if res.Media > 0 {
			fmt.Fprintf(&sb, ", %s with its file", formatCount(res.Media))
		}
		sb.WriteString(".")
		if res.Duplicates > 0 {
			fmt.Fprintf(&sb, " %s were there from an earlier import.", formatCount(res.Duplicates))
		}
	}
	var notes []string
	if stats.omitted > 0 {
		notes = append(notes, plural(stats.omitted, "attachment")+" the export did not include")
	}
	if stats.missing > 0 {
		notes = append(notes, plural(stats.missing, "file")+" named in the chat but not in the archive")
	}
	if len(stats.unmatched) > 0 {
		notes = append(notes, "senders shown by name (no contact matched): "+strings.Join(stats.unmatched, ", "))
	}
	if len(notes) > 0 {
		sb.WriteString(" Also: " + strings.Join(notes, "; ") + ".")
	}
	if n := len(parsed.Unparsed); n > 0 {
		fmt.Fprintf(&sb, " %s not understood and left out, e.g.", linesNotUnderstood(n))
		for i, l := range parsed.Unparsed[:min(3, n)] {
			if i > 0 {
				sb.WriteString(";")
			}
			text := []rune(strings.TrimSpace(l.Text))
			if len(text) > 60 {
				text = append(text[:60], '…')
			}
			fmt.Fprintf(&sb, " line %d: `%s`", l.No, strings.ReplaceAll(string(text), "`", "'"))
		}
		sb.WriteString(".")
	}
	return sb.String()
}

// linesNotUnderstood is "1 line was" / "3 lines were".
func linesNotUnderstood(n int) string {
	if n == 1 {
		return "1 line was"
	}
	return formatCount(n) + " lines were"
}

// sendNotice posts a markdown notice as the bot in the command's room, or edits edit with it, and
// returns the event ID ("" on failure, which is logged).
func (ce *commandEvent) sendNotice(ctx context.Context, markdown string, edit id.EventID) id.EventID {
	content := format.RenderMarkdown(markdown, true, false)
	content.MsgType = event.MsgNotice
	if edit != "" {
		content.SetEdit(edit)
	}
	resp, err := ce.br.AS.BotIntent().SendMessageEvent(ctx, ce.roomID, event.EventMessage, &content)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to post import progress")
		return ""
	}
	return resp.EventID
}
