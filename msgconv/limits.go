package msgconv

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"maunium.net/go/mautrix/event"
)

// Size limits of the two networks.
//
// Matrix: a homeserver refuses an event whose JSON, envelope and signatures included, exceeds 65536
// bytes (Matrix spec, Server-Server API "Size limits"). The bridge keeps the content of one event to
// maxEventContentBytes, leaving the rest for the envelope; a longer WhatsApp text is split, in
// order, into several consecutive m.text events at paragraph, line or word boundaries, so that
// nothing is lost and each part reads on its own.
//
// WhatsApp: the apps refuse to send a text longer than MaxWhatsAppTextLength characters; a longer
// Matrix message is refused with a PermanentError saying so, before anything is sent.
const (
	maxEventContentBytes = 60000
	// MaxWhatsAppTextLength is the longest text (or caption), in characters, sent to WhatsApp.
	MaxWhatsAppTextLength = 65536
)

// textParts converts a WhatsApp text like text does, split into as many consecutive parts as the
// Matrix event size limit needs (one, for all but very long texts).
func (c *FromWhatsApp) textParts(ctx context.Context, text string, ctxInfo *waE2E.ContextInfo) []*event.MessageEventContent {
	content := c.text(ctx, text, ctxInfo)
	if surelyFits(content) || contentSize(content) <= maxEventContentBytes {
		return []*event.MessageEventContent{content}
	}
	first, rest := splitText(text)
	if first == "" || rest == "" {
		return []*event.MessageEventContent{content}
	}
	return append(c.textParts(ctx, first, ctxInfo), c.textParts(ctx, rest, ctxInfo)...)
}

// contentSize is the size of content's JSON in bytes (an upper bound of what the homeserver counts,
// since Go escapes <, > and & more verbosely than canonical JSON).
func contentSize(content *event.MessageEventContent) int {
	data, err := json.Marshal(content)
	if err != nil {
		return 0
	}
	return len(data)
}

// surelyFits reports whether a text content's JSON is certainly within maxEventContentBytes
// without encoding it: each byte of its texts takes at most 6 in JSON (\u00XX), each mention its
// user ID quoted with a comma, and the rest (msgtype, format, a reply's event ID) far less than
// the margin. It answers false when unsure; contentSize then measures.
func surelyFits(content *event.MessageEventContent) bool {
	const margin = 4096
	if content.NewContent != nil || content.Info != nil || content.File != nil || len(content.BeeperLinkPreviews) > 0 ||
		len(content.GalleryItems) > 0 || len(content.UnstableGalleryItems) > 0 || content.BeeperPerMessageProfile != nil {
		return false // not a plain text: measure
	}
	size := 6*(len(content.Body)+len(content.FormattedBody)) + margin
	if content.Mentions != nil {
		for _, user := range content.Mentions.UserIDs {
			size += 6*len(user) + 3
		}
	}
	return size <= maxEventContentBytes
}

// splitText cuts text in two near its middle: at the paragraph break nearest the middle in its
// middle half, else a line break, else a space, else between two characters. The separator ends
// the first part, so the parts concatenate to text. A single character is not split (rest is "").
func splitText(text string) (string, string) {
	mid := len(text) / 2
	lo, hi := len(text)/4, len(text)*3/4
	for _, sep := range []string{"\n\n", "\n", " "} {
		best := -1
		if i := strings.LastIndex(text[lo:mid], sep); i >= 0 {
			best = lo + i + len(sep)
		}
		if i := strings.Index(text[mid:hi], sep); i >= 0 && (best < 0 || i < mid-best) {
			best = mid + i + len(sep)
		}
		if best > 0 && best < len(text) {
			return text[:best], text[best:]
		}
	}
	cut := mid
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	if cut == 0 {
		for cut = mid; cut < len(text) && !utf8.RuneStart(text[cut]); cut++ {
		}
	}
	if cut == 0 || cut == len(text) {
		if utf8.RuneCountInString(text) == 1 {
			return text, "" // one character cannot be split
		}
		cut = mid // no character boundary: the text is not UTF-8 anyway
	}
	return text[:cut], text[cut:]
}

// checkWhatsAppLength fails with a PermanentError when text is longer than WhatsApp accepts.
func checkWhatsAppLength(text string) error {
	if n := utf8.RuneCountInString(text); n > MaxWhatsAppTextLength {
		return permanent(fmt.Errorf("the message is too long for WhatsApp (%d characters; WhatsApp accepts up to %d), so it was not sent", n, MaxWhatsAppTextLength))
	}
	return nil
}
