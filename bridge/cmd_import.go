package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/chatexport"
	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// The import command: the user uploads a WhatsApp "Export chat" archive (.zip or .txt) to a
// portal or the management room and sends `import` (or replies `import` to the upload). The
// archive is checked against bridge.import's limits and parsed (chatexport) before anything is
// posted; the messages are then posted by portal.Manager.ImportHistory, with a progress line
// and a summary in the room of the command.

// importLookback is how many recent events of a room are searched for the user's last upload.
const importLookback = 50

// isExportUpload reports whether content is a file named as WhatsApp names chat exports
// ("WhatsApp Chat with Carol.zip", "WhatsApp Chat - Carol.zip", "_chat.txt", localised
// variants starting with "WhatsApp").
func isExportUpload(content *event.MessageEventContent) bool {
	if content.MsgType != event.MsgFile || content.URL == "" && content.File == nil {
		return false
	}
	name := strings.ToLower(content.GetFileName())
	ext := path.Ext(name)
	return (ext == ".zip" || ext == ".txt") && (name == "_chat.txt" || strings.HasPrefix(name, "whatsapp") && strings.Contains(name, "chat"))
}

// cmdImport imports a chat export into the portal of the room, or in the management room into the
// chat named by the arguments (a phone number, a contact's name or a group's name).
func cmdImport(ctx context.Context, ce *commandEvent) {
	if ce.user.wa.Client() == nil || ce.user.WAJID().IsEmpty() {
		ce.reply(ctx, "You are not logged in to WhatsApp.")
		return
	}
	chat, chatName, ok := ce.importTarget(ctx)
	if !ok {
		return
	}
	upload, ok := ce.findExportUpload(ctx)
	if !ok {
		return
	}
	cfg := ce.br.Config.Bridge.Import
	limits := chatexport.Limits{MaxBytes: cfg.ArchiveBytes(), MaxUnpackedBytes: cfg.UnpackedBytes(), MaxFiles: cfg.FileLimit()}
	if upload.Info != nil && int64(upload.Info.Size) > limits.MaxBytes {
		ce.reply(ctx, "%s was not imported: it is %s, larger than the %s the bridge accepts (`bridge.import.max_archive_mb`).",
			upload.GetFileName(), chatexport.FormatBytes(int64(upload.Info.Size)), chatexport.FormatBytes(limits.MaxBytes))
		return
	}
	uri, err := upload.URL.Parse()
	if err != nil {
		ce.reply(ctx, "%s has no valid file address, so it cannot be imported.", upload.GetFileName())
		return
	}
	data, err := downloadLimited(ctx, ce.br.AS.BotClient(), uri, limits.MaxBytes)
	if err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to download chat export")
		ce.reply(ctx, "Could not download %s from your homeserver: %v", upload.GetFileName(), err)
		return
	}
	archive, err := chatexport.OpenArchive(data, limits)
	var parsed *chatexport.Result
	if err == nil {
		parsed, err = chatexport.Parse(archive.Text, cfg.Location())
	}
	if err != nil {
		ce.reply(ctx, "%s was not imported, nothing was posted: %s", upload.GetFileName(), explainArchiveError(err))
		return
	}
	msgs, stats := ce.br.importMessages(ctx, ce.user, chat, parsed, archive)
	ce.runImport(ctx, chat, ce.chatTitle(ctx, chat, chatName), upload.GetFileName(), parsed, msgs, stats)
}

// chatTitle is a chat's current name as a history room's name shows it ("Carol", "Book club"):
// for a contact the name saved on the phone, else the first name, push name or verified business
// name, else the phone number; for a group its name (known, read from its portal). It is never
// empty.
func (ce *commandEvent) chatTitle(ctx context.Context, chat types.JID, known string) string {
	if chat.Server != types.GroupServer {
		jids := []types.JID{chat}
		if ghost, err := ce.br.puppets.Get(ctx, chat, userLogin{ce.user}.LIDs()); err == nil && ghost != nil {
			jids = append(ghost.ContactJIDs(), chat) // the contact's phone JID and LID
			if pn := ghost.Phone(); !pn.IsEmpty() {
				chat = pn
			}
		}
		info := ce.user.wa.Contact(ctx, jids...)
		for _, name := range []string{info.FullName, info.FirstName, info.PushName, info.BusinessName} {
			if name = puppet.CleanName(name); name != "" {
				return name
			}
		}
		if chat.Server == types.DefaultUserServer {
			return "+" + chat.User
		}
	}
	if known = puppet.CleanName(known); known != "" {
		return known
	}
	return chat.User
}

// downloadLimited downloads an mxc URI, reading at most limit+1 bytes (OpenArchive then refuses
// an archive over the limit without the bridge holding more of it in memory).
func downloadLimited(ctx context.Context, cli *mautrix.Client, uri id.ContentURI, limit int64) ([]byte, error) {
	resp, err := cli.Download(ctx, uri)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, limit+1))
}

// explainArchiveError is the user's explanation of an archive refused by chatexport.
func explainArchiveError(err error) string {
	switch {
	case errors.Is(err, chatexport.ErrTooLarge):
		return fmt.Sprintf("%v (limits in `bridge.import`).", err)
	case errors.Is(err, chatexport.ErrCorrupt):
		return fmt.Sprintf("%v. Export the chat again and upload the new file.", err)
	case errors.Is(err, chatexport.ErrEmpty):
		return fmt.Sprintf("%v. Export the chat again and upload the .zip or .txt WhatsApp's \"Export chat\" made.", err)
	case errors.Is(err, chatexport.ErrNoChat):
		return "the .zip holds no chat text (`_chat.txt` or `WhatsApp Chat with ….txt`). Upload the file WhatsApp's \"Export chat\" made, unchanged."
	case errors.Is(err, chatexport.ErrUnknownFormat):
		return fmt.Sprintf("%v. Upload the .zip or .txt WhatsApp's \"Export chat\" made.", err)
	}
	return err.Error()
}

// importTarget is the chat to import into: the room's portal, or in the management room the chat
// the arguments name. It answers the user itself when there is none.
func (ce *commandEvent) importTarget(ctx context.Context) (types.JID, string, bool) {
	if !ce.isManagement {
		p, err := ce.br.DB.Portal.GetByMXID(ctx, ce.roomID)
		if err != nil || p == nil {
			ce.reply(ctx, "This room is not a WhatsApp chat. Send `import <chat>` in your management room, naming the chat.")
			return types.EmptyJID, "", false
		}
		return p.Key.JID, p.Name, true
	}
	query := strings.TrimSpace(strings.Join(ce.args, " "))
	if query == "" {
		ce.reply(ctx, "Name the chat to import into: `import +4915112345678`, `import <contact name>` or `import <group name>`.")
		return types.EmptyJID, "", false
	}
	if digits, ok := phoneDigits(query); ok {
		jid, err := ce.user.wa.CheckOnWhatsApp(ctx, digits)
		if errors.Is(err, whatsapp.ErrNotOnWhatsApp) {
			ce.reply(ctx, "+%s is not on WhatsApp.", digits)
			return types.EmptyJID, "", false
		} else if err != nil {
			ce.reply(ctx, "Could not ask WhatsApp about +%s: %v. Try again later.", digits, err)
			return types.EmptyJID, "", false
		}
		return jid, "+" + digits, true
	}
	if jid, err := types.ParseJID(query); err == nil && jid.Server == types.GroupServer && jid.User != "" {
		// A group named by its ID, as the answer to an ambiguous name suggests.
		p, err := ce.br.DB.Portal.GetByKey(ctx, database.NewPortalKey(jid, types.EmptyJID))
		if err != nil || p == nil || p.MXID == "" {
			ce.reply(ctx, "You have no bridged group %s.", markdownCode(query))
			return types.EmptyJID, "", false
		}
		return jid, p.Name, true
	}
	var found []types.JID
	var names []string
	contacts, err := ce.br.listContacts(ctx, ce.user, "")
	if err != nil {
		ce.reply(ctx, "Failed to read your contacts: %v", err)
		return types.EmptyJID, "", false
	}
	for _, c := range contacts {
		if nameMatches(query, c.Info.FullName, c.Info.FirstName, c.Info.PushName, c.Info.BusinessName, c.Name) {
			found, names = append(found, c.JID), append(names, c.Name)
		}
	}
	portals, err := ce.br.DB.Portal.GetAll(ctx)
	if err != nil {
		ce.reply(ctx, "Failed to read your chats: %v", err)
		return types.EmptyJID, "", false
	}
	for _, p := range portals {
		if p.Key.JID.Server == types.GroupServer && p.MXID != "" && nameMatches(query, p.Name) {
			found, names = append(found, p.Key.JID), append(names, p.Name)
		}
	}
	switch len(found) {
	case 0:
		ce.reply(ctx, "No contact or group is named `%s`. Send `import` in the chat's room, or name it by phone number.", query)
		return types.EmptyJID, "", false
	case 1:
		return found[0], names[0], true
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s names %d chats:\n\n", markdownCode(query), len(found))
	example := ""
	for i, jid := range found {
		which := "+" + jid.User
		switch jid.Server {
		case types.GroupServer:
			which = "group " + markdownCode(jid.String())
			example = jid.String()
		case types.HiddenUserServer:
			which = "contact without a known number"
		}
		fmt.Fprintf(&sb, "* %s (%s)\n", format.EscapeMarkdown(names[i]), which)
	}
	if example == "" && found[0].Server == types.DefaultUserServer {
		example = "+" + found[0].User
	}
	fmt.Fprintf(&sb, "\nSend `import` in the chat's room, or name the chat by its number or group ID, e.g. `%simport %s`.", ce.prefix(), example)
	ce.reply(ctx, "%s", sb.String())
	return types.EmptyJID, "", false
}

// nameMatches compares a name case-insensitively with each candidate that is not empty.
func nameMatches(name string, candidates ...string) bool {
	for _, c := range candidates {
		if c != "" && strings.EqualFold(strings.TrimSpace(c), name) {
			return true
		}
	}
	return false
}

// findExportUpload finds the archive: the event the command replies to, else the user's latest
// .zip or .txt upload among the room's recent events.
func (ce *commandEvent) findExportUpload(ctx context.Context) (*event.MessageEventContent, bool) {
	bot := ce.br.AS.BotClient()
	if ce.replyTo != "" {
		evt, err := bot.GetEvent(ctx, ce.roomID, ce.replyTo)
		if err == nil {
			err = evt.Content.ParseRaw(evt.Type)
		}
		if err != nil {
			ce.reply(ctx, "Could not read the message you replied to: %v", err)
			return nil, false
		}
		if content := evt.Content.AsMessage(); evt.Sender == ce.user.MXID && isArchiveFile(content) {
			return content, true
		}
		ce.reply(ctx, "Reply `import` to a .zip or .txt chat export you uploaded.")
		return nil, false
	}
	resp, err := bot.Messages(ctx, ce.roomID, "", "", mautrix.DirectionBackward, nil, importLookback)
	if err != nil {
		ce.reply(ctx, "Could not look for your upload in this room: %v", err)
		return nil, false
	}
	for _, evt := range resp.Chunk {
		if evt.Type != event.EventMessage || evt.Sender != ce.user.MXID {
			continue
		}
		if err = evt.Content.ParseRaw(evt.Type); err != nil {
			continue
		}
		if content := evt.Content.AsMessage(); isArchiveFile(content) {
			return content, true
		}
	}
	ce.reply(ctx, "Upload the chat export (the .zip or .txt from WhatsApp's \"Export chat\") to this room first, then send `%simport` again, or reply `%simport` to it.",
		ce.prefix(), ce.prefix())
	return nil, false
}

// isArchiveFile reports whether content is an uploaded .zip or .txt file.
func isArchiveFile(content *event.MessageEventContent) bool {
	ext := strings.ToLower(path.Ext(content.GetFileName()))
	return content.URL != "" && content.MsgType == event.MsgFile && (ext == ".zip" || ext == ".txt")
}
