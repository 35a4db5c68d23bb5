package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// Contact cards as WhatsApp's apps write them.
const (
	vcardEve = "BEGIN:VCARD\nVERSION:3.0\nN:Doe;Eve;;;\nFN:Eve Doe\nitem1.TEL;waid=4915112345678:+49 151 12345678\nitem1.X-ABLabel:Mobile\nEND:VCARD"
	vcardTom = "BEGIN:VCARD\nVERSION:3.0\nFN:Tom\nTEL;type=HOME:+1 555 0100\nEND:VCARD"
)

// TestContactCards: a WhatsApp contact card shows as a .vcf file captioned with the card as text,
// several cards as one file and one text; a vCard file sent from Matrix reaches WhatsApp as a
// contact card, or a contact list when it holds several cards.
func TestContactCards(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340051")
	erin, erinGhost := newContact(t, ctx, env, "4917600000051", "Erin")

	if _, err := erin.Send(ctx, alice.acct.JID(), &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
		DisplayName: proto.String("Eve Doe"), Vcard: proto.String(vcardEve),
	}}); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, erinGhost)
	card := env.WaitForMessage(ctx, alice.client, dm, fromGhost(erinGhost, "Contact: Eve Doe\nPhone: +49 151 12345678 (on WhatsApp)"))
	if c := card.Content.AsMessage(); c.MsgType != event.MsgFile || c.FileName != "Eve Doe.vcf" || c.Info == nil || c.Info.MimeType != "text/vcard" {
		t.Errorf("card shown as %s %q (%+v)", c.MsgType, c.FileName, c.Info)
	}
	if data := string(downloadEventMedia(t, ctx, alice.client, card)); data != vcardEve+"\r\n" {
		t.Errorf("card file holds %q", data)
	}

	if _, err := erin.Send(ctx, alice.acct.JID(), &waE2E.Message{ContactsArrayMessage: &waE2E.ContactsArrayMessage{
		DisplayName: proto.String("2 contacts"), Contacts: []*waE2E.ContactMessage{
			{DisplayName: proto.String("Eve Doe"), Vcard: proto.String(vcardEve)},
			{DisplayName: proto.String("Tom"), Vcard: proto.String(vcardTom)},
		},
	}}); err != nil {
		t.Fatal(err)
	}
	list := env.WaitForMessage(ctx, alice.client, dm, fromGhost(erinGhost,
		"Contact: Eve Doe\nPhone: +49 151 12345678 (on WhatsApp)\n\nContact: Tom\nPhone: +1 555 0100"))
	if data := string(downloadEventMedia(t, ctx, alice.client, list)); strings.Count(data, "BEGIN:VCARD") != 2 {
		t.Errorf("list file holds %q", data)
	}

	for _, file := range []struct{ name, data string }{{"tom.vcf", vcardTom}, {"friends.vcf", vcardEve + "\n" + vcardTom}} {
		up, err := alice.client.UploadBytes(ctx, []byte(file.data), "text/vcard")
		if err != nil {
			t.Fatal(err)
		}
		sendMatrixMedia(t, ctx, alice.client, dm, &event.MessageEventContent{MsgType: event.MsgFile, Body: file.name, FileName: file.name,
			URL: up.ContentURI.CUString(), Info: &event.FileInfo{MimeType: "text/vcard", Size: len(file.data)}})
	}
	tom := waitWAKind(t, ctx, erin, wasim.KindContact)
	if c := tom.Message.GetContactMessage(); c.GetDisplayName() != "Tom" || !strings.Contains(c.GetVcard(), "TEL;type=HOME:+1 555 0100") {
		t.Errorf("WhatsApp received card %v", tom.Message)
	}
	friends, err := erin.WaitMessage(ctx, func(m *events.Message) bool { return m.Message.GetContactsArrayMessage() != nil })
	if err != nil {
		t.Fatalf("WhatsApp never received the contact list: %v", err)
	}
	contacts := friends.Message.GetContactsArrayMessage().GetContacts()
	if len(contacts) != 2 || contacts[0].GetDisplayName() != "Eve Doe" || !strings.Contains(contacts[0].GetVcard(), "item1.TEL;waid=4915112345678:") || contacts[1].GetDisplayName() != "Tom" {
		t.Errorf("WhatsApp received list %v", friends.Message)
	}
}
