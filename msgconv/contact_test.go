package msgconv

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// WhatsApp's apps write contact cards like these (vCard 3.0, a phone on WhatsApp with waid).
const (
	cardEve = "BEGIN:VCARD\nVERSION:3.0\nN:Doe;Eve;;;\nFN:Eve Doe\nORG:Acme;Sales\n" +
		"item1.TEL;waid=4915112345678:+49 151 12345678\nitem1.X-ABLabel:Mobile\nEMAIL;type=INTERNET:eve@example.org\nEND:VCARD"
	cardTom = "BEGIN:VCARD\nVERSION:3.0\nFN:Tom\nTEL;type=HOME:+1 555 0100\nEND:VCARD"
)

func TestContactsFromWhatsApp(t *testing.T) {
	t.Parallel()
	eveText := "Contact: Eve Doe\nPhone: +49 151 12345678 (on WhatsApp)\nEmail: eve@example.org\nOrganization: Acme, Sales"
	tests := []struct {
		name     string
		msg      *waE2E.Message
		noMedia  bool
		uploadOK bool
		body     string
		fileName string
		file     string // uploaded .vcf content, "" when no file
		replyTo  id.EventID
	}{
		{name: "one card", msg: &waE2E.Message{ContactMessage: &waE2E.ContactMessage{DisplayName: proto.String("Eve Doe"), Vcard: proto.String(cardEve)}},
			body: eveText, fileName: "Eve Doe.vcf", file: cardEve + "\r\n"},
		{name: "card without display name, replying", msg: &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
			Vcard: proto.String(cardTom), ContextInfo: replyInfo(quotedWAID)}},
			body: "Contact: Tom\nPhone: +1 555 0100", fileName: "contact.vcf", file: cardTom + "\r\n", replyTo: quotedEventID},
		{name: "several cards", msg: &waE2E.Message{ContactsArrayMessage: &waE2E.ContactsArrayMessage{DisplayName: proto.String("2 contacts"),
			Contacts: []*waE2E.ContactMessage{
				{DisplayName: proto.String("Eve Doe"), Vcard: proto.String(cardEve)},
				{DisplayName: proto.String("Tom"), Vcard: proto.String(cardTom)},
			}}},
			body: eveText + "\n\nContact: Tom\nPhone: +1 555 0100", fileName: "2 contacts.vcf", file: cardEve + "\r\n" + cardTom + "\r\n"},
		{name: "card that does not parse", msg: &waE2E.Message{ContactMessage: &waE2E.ContactMessage{DisplayName: proto.String("A/B"), Vcard: proto.String("not a card")}},
			body: "Contact: A/B", fileName: "A_B.vcf", file: "not a card\r\n"},
		{name: "no media repository", noMedia: true, msg: &waE2E.Message{ContactMessage: &waE2E.ContactMessage{DisplayName: proto.String("Tom"), Vcard: proto.String(cardTom)}},
			body: "Contact: Tom\nPhone: +1 555 0100"},
		{name: "empty list", msg: &waE2E.Message{ContactsArrayMessage: &waE2E.ContactsArrayMessage{DisplayName: proto.String("Friends")}},
			body: "Contact list: Friends (empty)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mx := &fakeMatrix{}
			conv := &FromWhatsApp{Matrix: mx, QuotedEvent: fakeQuotedEvent}
			if tt.noMedia {
				conv.Matrix = nil
			}
			converted, err := conv.Convert(context.Background(), tt.msg)
			if err != nil || len(converted.Parts) != 1 {
				t.Fatalf("Convert: %v, %+v", err, converted)
			}
			c := converted.Parts[0].Content
			if c.Body != tt.body || c.RelatesTo.GetReplyTo() != tt.replyTo {
				t.Errorf("body %q replying to %q, want %q replying to %q", c.Body, c.RelatesTo.GetReplyTo(), tt.body, tt.replyTo)
			}
			if tt.file == "" {
				if c.MsgType != event.MsgText || len(mx.uploads) != 0 {
					t.Errorf("got %s with %d uploads, want text only", c.MsgType, len(mx.uploads))
				}
				return
			}
			if c.MsgType != event.MsgFile || c.FileName != tt.fileName || c.Info.MimeType != "text/vcard" || len(mx.uploads) != 1 {
				t.Fatalf("got %s %q (%+v), %d uploads", c.MsgType, c.FileName, c.Info, len(mx.uploads))
			}
			if up := mx.uploads[0]; string(up.data) != tt.file || up.fileName != tt.fileName || string(c.URL) != "mxc://example.org/upload1" {
				t.Errorf("uploaded %q as %q", up.data, up.fileName)
			}
		})
	}
}

func TestContactsFromWhatsAppUploadFailure(t *testing.T) {
	t.Parallel()
	msg := &waE2E.Message{ContactMessage: &waE2E.ContactMessage{DisplayName: proto.String("Tom"), Vcard: proto.String(cardTom)}}
	transient := errors.New("homeserver is down")
	if _, err := (&FromWhatsApp{Matrix: &fakeMatrix{uploadErr: transient}}).Convert(context.Background(), msg); !errors.Is(err, transient) {
		t.Errorf("transient upload failure: err %v", err)
	}
	converted, err := (&FromWhatsApp{Matrix: &fakeMatrix{uploadErr: ErrMediaTooLarge}}).Convert(context.Background(), msg)
	if err != nil || converted.Parts[0].Content.MsgType != event.MsgText || converted.Parts[0].Content.Body != "Contact: Tom\nPhone: +1 555 0100" {
		t.Errorf("refused upload: %v, %+v", err, converted)
	}
}

func TestContactsFromMatrix(t *testing.T) {
	t.Parallel()
	const vcfURI = id.ContentURIString("mxc://example.org/vcf")
	file := func(body, fileName, mimeType string) *event.MessageEventContent {
		return &event.MessageEventContent{MsgType: event.MsgFile, Body: body, FileName: fileName, URL: vcfURI, Info: &event.FileInfo{MimeType: mimeType}}
	}
	tests := []struct {
		name    string
		content *event.MessageEventContent
		data    string
		names   []string // display names of the contacts sent; nil: sent as a document
		quoted  string
	}{
		{name: "one card", content: file("eve.vcf", "eve.vcf", "text/vcard"), data: cardEve, names: []string{"Eve Doe"}},
		{name: "by file name only", content: file("tom.VCF", "", ""), data: cardTom, names: []string{"Tom"}},
		{name: "x-vcard, CRLF, no version", content: file("c", "c", "text/x-vcard; charset=utf-8"),
			data: "BEGIN:VCARD\r\nN:Smith;Ann;;;\r\nTEL:+1 555 0199\r\nEND:VCARD\r\n", names: []string{"Ann Smith"}},
		{name: "several cards", content: file("all.vcf", "all.vcf", "text/vcard"), data: cardEve + "\n" + cardTom, names: []string{"Eve Doe", "Tom"}},
		{name: "reply", content: replyTo(file("eve.vcf", "eve.vcf", "text/vcard"), quotedEventID), data: cardEve, names: []string{"Eve Doe"}, quoted: quotedWAID},
		{name: "with caption", content: file("meet Eve", "eve.vcf", "text/vcard"), data: cardEve},
		{name: "not a vCard", content: file("x.vcf", "x.vcf", "text/vcard"), data: "hello"},
		{name: "other file", content: file("a.txt", "a.txt", "text/plain"), data: cardEve},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wa := &fakeWhatsApp{}
			conv := &FromMatrix{Matrix: &fakeMatrix{files: map[id.ContentURIString][]byte{vcfURI: []byte(tt.data)}}, WhatsApp: wa, QuotedMessage: fakeQuotedMessage}
			msg, err := conv.Convert(context.Background(), event.EventMessage, tt.content)
			if err != nil {
				t.Fatal(err)
			}
			if tt.names == nil {
				if msg.GetDocumentMessage() == nil || wa.uploaded == nil {
					t.Errorf("sent %v, want a document", msg)
				}
				return
			}
			if wa.uploaded != nil {
				t.Error("a contact card was uploaded as a file")
			}
			contacts := []*waE2E.ContactMessage{msg.GetContactMessage()}
			ctxInfo := msg.GetContactMessage().GetContextInfo()
			if len(tt.names) > 1 {
				contacts, ctxInfo = msg.GetContactsArrayMessage().GetContacts(), msg.GetContactsArrayMessage().GetContextInfo()
			}
			if len(contacts) != len(tt.names) {
				t.Fatalf("sent %v", msg)
			}
			for i, contact := range contacts {
				card := contact.GetVcard()
				if contact.GetDisplayName() != tt.names[i] || !strings.HasPrefix(card, "BEGIN:VCARD\r\nVERSION:") || !strings.HasSuffix(card, "END:VCARD\r\n") {
					t.Errorf("contact %d: %q %q", i, contact.GetDisplayName(), card)
				}
			}
			if i := strings.Index(contacts[0].GetVcard(), "item1.TEL;waid=4915112345678:"); tt.names[0] == "Eve Doe" && i < 0 {
				t.Errorf("WhatsApp number lost: %q", contacts[0].GetVcard())
			}
			if ctxInfo.GetStanzaID() != tt.quoted {
				t.Errorf("quotes %q, want %q", ctxInfo.GetStanzaID(), tt.quoted)
			}
		})
	}
}

// TestContactsRoundTrip: a card sent from Matrix reads the same when it comes back from WhatsApp.
func TestContactsRoundTrip(t *testing.T) {
	t.Parallel()
	const vcfURI = id.ContentURIString("mxc://example.org/vcf")
	conv := &FromMatrix{Matrix: &fakeMatrix{files: map[id.ContentURIString][]byte{vcfURI: []byte(cardEve)}}, WhatsApp: &fakeWhatsApp{}}
	msg, err := conv.Convert(context.Background(), event.EventMessage, &event.MessageEventContent{MsgType: event.MsgFile, Body: "eve.vcf", FileName: "eve.vcf", URL: vcfURI})
	if err != nil {
		t.Fatal(err)
	}
	back, err := (&FromWhatsApp{Matrix: &fakeMatrix{}}).Convert(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	want := describeCard("", cardEve)
	if got := back.Parts[0].Content.Body; got != want {
		t.Errorf("came back as %q, want %q", got, want)
	}
}
