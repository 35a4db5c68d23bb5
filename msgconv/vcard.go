package msgconv

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/emersion/go-vcard"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
)

// Contact cards travel as vCards (RFC 6350, in practice the 3.0 dialect WhatsApp's apps write, where
// a phone number on WhatsApp carries a waid parameter with its JID's user part). In Matrix they are
// a .vcf file whose caption is the card as text, readable without opening the file.

// vCardMimeType is the MIME type of the .vcf files the bridge uploads (RFC 6350).
const vCardMimeType = "text/vcard"

// isVCardFile reports whether a Matrix file is a vCard, by its MIME type or its file name.
func isVCardFile(mimeType, fileName string) bool {
	mimeType, _, _ = strings.Cut(strings.ToLower(mimeType), ";")
	switch strings.TrimSpace(mimeType) {
	case "text/vcard", "text/x-vcard", "text/directory":
		return true
	}
	return strings.EqualFold(path.Ext(fileName), ".vcf") || strings.EqualFold(path.Ext(fileName), ".vcard")
}

// describeCard is the readable text of one contact card: its name, then a line per phone number
// (marked when the number is on WhatsApp), e-mail address and organisation. A card that does not
// parse shows only displayName.
func describeCard(displayName, vcardText string) string {
	card, err := vcard.NewDecoder(strings.NewReader(vcardText)).Decode()
	name := strings.TrimSpace(displayName)
	if err != nil && !errors.Is(err, io.EOF) || card == nil {
		if name == "" {
			name = "unnamed contact"
		}
		return "Contact: " + name
	}
	if name == "" {
		name = cardName(card)
	}
	lines := []string{"Contact: " + name}
	for _, tel := range card[vcard.FieldTelephone] {
		line := "Phone: " + strings.TrimSpace(tel.Value)
		if tel.Params.Get("WAID") != "" {
			line += " (on WhatsApp)"
		}
		lines = append(lines, line)
	}
	for _, email := range card.Values(vcard.FieldEmail) {
		lines = append(lines, "Email: "+strings.TrimSpace(email))
	}
	if org := strings.Trim(strings.ReplaceAll(card.Value(vcard.FieldOrganization), ";", ", "), ", "); org != "" {
		lines = append(lines, "Organization: "+org)
	}
	return strings.Join(lines, "\n")
}

// cardName is the name a card shows: its formatted name, else its structured name, else its first
// phone number, else "unnamed contact".
func cardName(card vcard.Card) string {
	if fn := strings.TrimSpace(card.PreferredValue(vcard.FieldFormattedName)); fn != "" {
		return fn
	}
	if n := card.Name(); n != nil {
		if full := strings.TrimSpace(strings.Join(strings.Fields(n.GivenName+" "+n.AdditionalName+" "+n.FamilyName), " ")); full != "" {
			return full
		}
	}
	if tel := strings.TrimSpace(card.PreferredValue(vcard.FieldTelephone)); tel != "" {
		return tel
	}
	return "unnamed contact"
}

// vCardFileName is the name of the .vcf file of a card or cards named name, without characters
// that file systems refuse.
func vCardFileName(name string) string {
	name = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`/\:*?"<>|`, r) || r < ' ' {
			return '_'
		}
		return r
	}, strings.TrimSpace(name))
	if name == "" {
		name = "contact"
	}
	return name + ".vcf"
}

// contactMessageOf reads a vCard file from Matrix as the WhatsApp contact message its apps send:
// one card becomes a contact, several a contact list. Each card is sent as written (with CRLF line
// ends, and VERSION:3.0 added when it has no version), so parameters such as waid keep their
// spelling. It returns nil when data is not a vCard file with at least one card (it is then sent
// as a document).
func contactMessageOf(data []byte, ctxInfo *waE2E.ContextInfo) *waE2E.Message {
	var contacts []*waE2E.ContactMessage
	for _, text := range splitVCards(string(data)) {
		card, err := vcard.NewDecoder(strings.NewReader(text)).Decode()
		if err != nil {
			return nil
		}
		if card.Get(vcard.FieldVersion) == nil {
			text = strings.Replace(text, "\r\n", "\r\nVERSION:3.0\r\n", 1)
		}
		contacts = append(contacts, &waE2E.ContactMessage{DisplayName: proto.String(cardName(card)), Vcard: proto.String(text)})
	}
	switch len(contacts) {
	case 0:
		return nil
	case 1:
		contacts[0].ContextInfo = ctxInfo
		return &waE2E.Message{ContactMessage: contacts[0]}
	}
	return &waE2E.Message{ContactsArrayMessage: &waE2E.ContactsArrayMessage{
		DisplayName: proto.String(fmt.Sprintf("%d contacts", len(contacts))), Contacts: contacts, ContextInfo: ctxInfo,
	}}
}

// splitVCards cuts a vCard file into its cards, each from its BEGIN:VCARD line to its END:VCARD
// line with CRLF line ends. Text outside cards is dropped; a card without an end is returned as it
// is, for the decoder to refuse.
func splitVCards(data string) []string {
	var cards []string
	var card []string
	for _, line := range strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n") {
		switch {
		case strings.EqualFold(strings.TrimSpace(line), "BEGIN:VCARD"):
			card = []string{line}
		case card == nil:
		case strings.EqualFold(strings.TrimSpace(line), "END:VCARD"):
			cards = append(cards, strings.Join(append(card, line), "\r\n")+"\r\n")
			card = nil
		default:
			card = append(card, line)
		}
	}
	if card != nil {
		cards = append(cards, strings.Join(card, "\r\n")+"\r\n")
	}
	return cards
}
