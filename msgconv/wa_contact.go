package msgconv

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"maunium.net/go/mautrix/event"
)

// convertContacts shows one or several shared contact cards as one .vcf file holding every card,
// captioned with the cards as readable text. Without a media repository, or when the homeserver
// refuses the file's size, the text alone is sent. An upload failure that may pass is returned.
func (c *FromWhatsApp) convertContacts(ctx context.Context, listName string, cards []*waE2E.ContactMessage) (Part, error) {
	var texts []string
	var data strings.Builder
	for _, card := range cards {
		texts = append(texts, describeCard(card.GetDisplayName(), card.GetVcard()))
		data.WriteString(strings.TrimRight(card.GetVcard(), "\r\n"))
		data.WriteString("\r\n")
	}
	text := strings.Join(texts, "\n\n")
	if len(cards) == 0 {
		text = "Contact list: " + strings.TrimSpace(listName) + " (empty)"
	}
	textOnly := messagePart(&event.MessageEventContent{MsgType: event.MsgText, Body: text})
	if c.Matrix == nil || len(cards) == 0 {
		return textOnly, nil
	}
	name := listName
	if len(cards) == 1 || strings.TrimSpace(name) == "" {
		name = cards[0].GetDisplayName()
	}
	fileName := vCardFileName(name)
	content := &event.MessageEventContent{
		MsgType: event.MsgFile, Body: text, FileName: fileName,
		Info: &event.FileInfo{MimeType: vCardMimeType, Size: data.Len()},
	}
	err := c.upload(ctx, content, []byte(data.String()), vCardMimeType, fileName)
	if errors.Is(err, ErrMediaTooLarge) {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Homeserver refused the contact card file, sending the text only")
		return textOnly, nil
	} else if err != nil {
		return Part{}, fmt.Errorf("failed to upload contact card: %w", err)
	}
	return messagePart(content), nil
}
