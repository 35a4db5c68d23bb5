package wasim

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// TestMessageKinds sends every message kind between a companion (standing in for the bridge) and
// a contact, and checks what the receiving whatsmeow client sees. Cases run in order: later ones
// refer to messages of earlier ones (reply, reaction, edit, revoke, poll vote).
func TestMessageKinds(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Mia")
	bob := newContact(t, ctx, srv, "Bob")
	mia := pairByQR(t, ctx, srv, acct)

	sent := map[string]types.MessageID{}     // case name -> message id
	received := map[string]*events.Message{} // case name -> event on the receiving side
	media := map[string][]byte{}
	const fromMia, fromBob = "companion", "contact"

	uploadCase := func(kind string) func(t *testing.T) *waE2E.Message {
		return func(t *testing.T) *waE2E.Message {
			media[kind] = randomBytes(3000 + len(kind))
			msg, err := UploadMedia(ctx, mia.cli, Media{Kind: kind, Data: media[kind], Caption: "a " + kind, FileName: "doc.pdf"})
			if err != nil {
				t.Fatalf("upload failed: %v", err)
			}
			return msg
		}
	}
	checkMedia := func(kind string) func(t *testing.T, evt *events.Message) {
		return func(t *testing.T, evt *events.Message) {
			data, err := bob.Download(ctx, evt.Message)
			if err != nil || !bytes.Equal(data, media[kind]) {
				t.Fatalf("download: err %v, equal %v", err, bytes.Equal(data, media[kind]))
			}
		}
	}

	cases := []struct {
		name  string
		from  string
		kind  string
		build func(t *testing.T) *waE2E.Message
		check func(t *testing.T, evt *events.Message)
	}{
		{"formatted text", fromMia, KindText, func(*testing.T) *waE2E.Message {
			return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("*bold* _it_ ~del~ ```code```\nline 2")}}
		}, func(t *testing.T, evt *events.Message) {
			if got := MessageBody(evt); got != "*bold* _it_ ~del~ ```code```\nline 2" {
				t.Fatalf("text %q", got)
			}
		}},
		{"mention", fromMia, KindText, func(*testing.T) *waE2E.Message {
			return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
				Text:        proto.String("hi @" + bob.JID().User),
				ContextInfo: &waE2E.ContextInfo{MentionedJID: []string{bob.JID().String()}},
			}}
		}, func(t *testing.T, evt *events.Message) {
			got := evt.Message.GetExtendedTextMessage().GetContextInfo().GetMentionedJID()
			if !slices.Equal(got, []string{bob.JID().String()}) {
				t.Fatalf("mentions %v", got)
			}
		}},
		{"to quote", fromBob, KindText, func(*testing.T) *waE2E.Message { return textMessage("quote me") }, nil},
		{"quoted reply", fromMia, KindText, func(*testing.T) *waE2E.Message {
			return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
				Text: proto.String("replying"),
				ContextInfo: &waE2E.ContextInfo{
					StanzaID: proto.String(sent["to quote"]), Participant: proto.String(bob.JID().String()),
					QuotedMessage: textMessage("quote me"),
				},
			}}
		}, func(t *testing.T, evt *events.Message) {
			info := evt.Message.GetExtendedTextMessage().GetContextInfo()
			if info.GetStanzaID() != sent["to quote"] || info.GetQuotedMessage().GetConversation() != "quote me" {
				t.Fatalf("quote %q %q", info.GetStanzaID(), info.GetQuotedMessage().GetConversation())
			}
		}},
		{"image", fromMia, KindImage, uploadCase(KindImage), checkMedia(KindImage)},
		{"video", fromMia, KindVideo, uploadCase(KindVideo), checkMedia(KindVideo)},
		{"audio", fromMia, KindAudio, uploadCase(KindAudio), checkMedia(KindAudio)},
		{"voice note", fromMia, KindPTT, uploadCase(KindPTT), checkMedia(KindPTT)},
		{"document", fromMia, KindDocument, uploadCase(KindDocument), func(t *testing.T, evt *events.Message) {
			checkMedia(KindDocument)(t, evt)
			if name := evt.Message.GetDocumentMessage().GetFileName(); name != "doc.pdf" {
				t.Fatalf("file name %q", name)
			}
		}},
		{"sticker", fromMia, KindSticker, uploadCase(KindSticker), checkMedia(KindSticker)},
		{"lottie sticker", fromMia, KindSticker, func(t *testing.T) *waE2E.Message {
			media["lottie"], media["lottie still"] = randomBytes(4000), testPNG(t, 100, 90)
			msg, err := UploadMedia(ctx, mia.cli, Media{Kind: KindSticker, Data: media["lottie"], Lottie: true, Thumbnail: media["lottie still"]})
			if err != nil {
				t.Fatalf("upload failed: %v", err)
			}
			return msg
		}, func(t *testing.T, evt *events.Message) {
			checkLottieSticker(t, ctx, bob.Client(), evt, media["lottie"], media["lottie still"], 100, 90)
		}},
		{"location", fromMia, KindLocation, func(*testing.T) *waE2E.Message {
			return &waE2E.Message{LocationMessage: &waE2E.LocationMessage{
				DegreesLatitude: proto.Float64(52.52), DegreesLongitude: proto.Float64(13.405),
				Name: proto.String("Berlin"), Address: proto.String("Alexanderplatz"),
			}}
		}, func(t *testing.T, evt *events.Message) {
			loc := evt.Message.GetLocationMessage()
			if loc.GetDegreesLatitude() != 52.52 || loc.GetDegreesLongitude() != 13.405 || loc.GetName() != "Berlin" {
				t.Fatalf("location %v", loc)
			}
		}},
		{"contact card", fromMia, KindContact, func(*testing.T) *waE2E.Message {
			return &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
				DisplayName: proto.String("Eve"),
				Vcard:       proto.String("BEGIN:VCARD\nVERSION:3.0\nFN:Eve\nTEL;type=CELL:+49 151 1234567\nEND:VCARD"),
			}}
		}, func(t *testing.T, evt *events.Message) {
			card := evt.Message.GetContactMessage()
			if card.GetDisplayName() != "Eve" || !bytes.Contains([]byte(card.GetVcard()), []byte("TEL;type=CELL:+49 151 1234567")) {
				t.Fatalf("contact card %v", card)
			}
		}},
		{"reaction", fromMia, KindReaction, func(*testing.T) *waE2E.Message {
			return mia.cli.BuildReaction(bob.JID(), bob.JID(), sent["to quote"], "👍")
		}, func(t *testing.T, evt *events.Message) {
			r := evt.Message.GetReactionMessage()
			if r.GetText() != "👍" || r.GetKey().GetID() != sent["to quote"] || r.GetKey().GetFromMe() {
				t.Fatalf("reaction %v", r)
			}
		}},
		{"to edit", fromMia, KindText, func(*testing.T) *waE2E.Message { return textMessage("tpyo") }, nil},
		{"edit", fromMia, KindEdit, func(*testing.T) *waE2E.Message {
			return mia.cli.BuildEdit(bob.JID(), sent["to edit"], textMessage("typo fixed"))
		}, func(t *testing.T, evt *events.Message) {
			pm := evt.Message.GetProtocolMessage()
			if !evt.IsEdit || MessageBody(evt) != "typo fixed" || pm.GetKey().GetID() != sent["to edit"] {
				t.Fatalf("edit: IsEdit %v, body %q, target %q", evt.IsEdit, MessageBody(evt), pm.GetKey().GetID())
			}
		}},
		{"to revoke", fromMia, KindText, func(*testing.T) *waE2E.Message { return textMessage("oops") }, nil},
		{"revoke", fromMia, KindRevoke, func(*testing.T) *waE2E.Message {
			return mia.cli.BuildRevoke(bob.JID(), types.EmptyJID, sent["to revoke"])
		}, func(t *testing.T, evt *events.Message) {
			if id := evt.Message.GetProtocolMessage().GetKey().GetID(); id != sent["to revoke"] {
				t.Fatalf("revoke targets %q", id)
			}
		}},
		{"poll", fromMia, KindPoll, func(*testing.T) *waE2E.Message {
			return mia.cli.BuildPollCreation("Lunch?", []string{"pizza", "sushi", "soup"}, 1)
		}, func(t *testing.T, evt *events.Message) {
			poll := evt.Message.GetPollCreationMessage()
			if poll == nil {
				poll = evt.Message.GetPollCreationMessageV3()
			}
			if poll.GetName() != "Lunch?" || len(poll.GetOptions()) != 3 || poll.GetOptions()[1].GetOptionName() != "sushi" {
				t.Fatalf("poll %v", evt.Message)
			}
		}},
		{"poll vote", fromBob, KindPollVote, func(t *testing.T) *waE2E.Message {
			vote, err := bob.Client().BuildPollVote(ctx, &received["poll"].Info, []string{"sushi"})
			if err != nil {
				t.Fatalf("BuildPollVote failed: %v", err)
			}
			return vote
		}, func(t *testing.T, evt *events.Message) {
			vote, err := mia.cli.DecryptPollVote(ctx, evt)
			if err != nil {
				t.Fatalf("DecryptPollVote failed: %v", err)
			}
			want := sha256.Sum256([]byte("sushi"))
			if len(vote.GetSelectedOptions()) != 1 || !bytes.Equal(vote.GetSelectedOptions()[0], want[:]) {
				t.Fatalf("vote selects %x", vote.GetSelectedOptions())
			}
		}},
	}

	for _, tc := range cases {
		ok := t.Run(tc.name, func(t *testing.T) {
			msg := tc.build(t)
			var id types.MessageID
			var err error
			var inbox *EventLog
			if tc.from == fromMia {
				var resp whatsmeow.SendResponse
				resp, err = mia.cli.SendMessage(ctx, bob.JID(), msg)
				id, inbox = resp.ID, bob.EventLog
			} else {
				to := acct.JID()
				if tc.kind == KindPollVote {
					to = received["poll"].Info.Chat
				}
				id, err = bob.Send(ctx, to, msg)
				inbox = mia.EventLog
			}
			if err != nil {
				t.Fatalf("send failed: %v", err)
			}
			sent[tc.name] = id
			evt, err := inbox.WaitMessage(ctx, idIs(id))
			if err != nil {
				t.Fatalf("message never arrived: %v", err)
			}
			received[tc.name] = evt
			if got := MessageKind(evt); got != tc.kind {
				t.Fatalf("kind %q, want %q", got, tc.kind)
			}
			if tc.check != nil {
				tc.check(t, evt)
			}
		})
		if !ok {
			t.FailNow()
		}
	}
}
