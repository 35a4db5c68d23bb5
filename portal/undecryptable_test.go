package portal

import (
	"slices"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
)

func undecryptable(msgID string, viewOnce bool) *events.UndecryptableMessage {
	evt := &events.UndecryptableMessage{Info: waText(testContact, testContact, msgID, "").Info, IsUnavailable: true}
	if viewOnce {
		evt.UnavailableType = events.UnavailableTypeViewOnce
	}
	return evt
}

// An undecryptable message shows a placeholder at once; the copy that arrives later edits it
// (keeping its event ID in the message map), and further copies are dropped.
func TestPlaceholderReplacedByEdit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.m.HandleWhatsAppUndecryptable(e.ctx, e.login, undecryptable("U1", false)); err != nil {
		t.Fatal(err)
	}
	// whatsmeow reports the same message again if the retried copy fails too.
	if err := e.m.HandleWhatsAppUndecryptable(e.ctx, e.login, undecryptable("U1", false)); err != nil {
		t.Fatal(err)
	}
	sends := e.mx.callsOf("SendEvent")
	if got := summaries(sends); !slices.Equal(got, []string{"m.room.message:" + placeholderText}) {
		t.Fatalf("sent %q, want one placeholder", got)
	}
	placeholder := sends[0]
	if placeholder.user != e.ghost(testContact) || placeholder.content.(*event.MessageEventContent).MsgType != event.MsgNotice {
		t.Fatalf("placeholder sent by %s as %+v", placeholder.user, placeholder.content)
	}
	for range 2 { // the sender's resend, then the phone's answer
		if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, waText(testContact, testContact, "U1", "the real text")); err != nil {
			t.Fatal(err)
		}
	}
	sends = e.mx.callsOf("SendEvent")
	if len(sends) != 2 {
		t.Fatalf("sent %q, want the placeholder and one edit", summaries(sends))
	}
	edit := sends[1].content.(*event.MessageEventContent)
	if edit.RelatesTo == nil || edit.RelatesTo.Type != event.RelReplace || edit.RelatesTo.EventID != placeholder.target ||
		edit.NewContent == nil || edit.NewContent.Body != "the real text" || sends[1].user != placeholder.user {
		t.Fatalf("second event %+v is not an edit of the placeholder %s", edit, placeholder.target)
	}
	parts, err := e.db.Message.GetByWAID(e.ctx, e.portal(testContact).Key, "U1")
	if err != nil || len(parts) != 1 || parts[0].MXID != placeholder.target {
		t.Fatalf("message map has %+v (%v), want the placeholder's event", parts, err)
	}
	// A reaction to the message now lands on the placeholder's event, where the text is.
	if err = e.m.HandleWhatsAppMessage(e.ctx, e.login, waReaction(testContact, "X1", "U1", "👍")); err != nil {
		t.Fatal(err)
	}
	reaction := e.mx.callsOf("SendEvent")[2].content.(*event.ReactionEventContent)
	if reaction.RelatesTo.EventID != placeholder.target {
		t.Fatalf("reaction relates to %s, want %s", reaction.RelatesTo.EventID, placeholder.target)
	}
	if n := len(e.mx.callsOf("Redact")); n != 0 {
		t.Fatalf("%d redactions, want none", n)
	}
}

// A message that cannot be an edit (a sticker: edits keep the event type) replaces its placeholder
// by redaction, and is sent as a new event.
func TestPlaceholderReplacedByRedaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evt := undecryptable("U2", false)
	if err := e.m.HandleWhatsAppUndecryptable(e.ctx, e.login, evt); err != nil {
		t.Fatal(err)
	}
	placeholder := e.mx.callsOf("SendEvent")[0]
	p := e.portal(testContact)
	sticker := &msgconv.ConvertedMessage{Parts: []msgconv.Part{{
		Type: event.EventSticker, Content: &event.MessageEventContent{Body: "sticker", URL: "mxc://example.org/s"},
	}}}
	ghost, err := e.ghosts.Get(e.ctx, testContact, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, ph, err := e.db.Placeholder.LookUpIncoming(e.ctx, p.Key, evt.Info.ID)
	if err != nil || ph == nil {
		t.Fatalf("placeholder of %s: %v, %v", evt.Info.ID, ph, err)
	}
	replaced, err := p.replacePlaceholder(e.ctx, ghost, evt.Info, sticker, &waE2E.Message{StickerMessage: &waE2E.StickerMessage{}}, ph)
	if err != nil || !replaced {
		t.Fatalf("replacePlaceholder = %v, %v", replaced, err)
	}
	redacts := e.mx.callsOf("Redact")
	if len(redacts) != 1 || redacts[0].target != placeholder.target {
		t.Fatalf("redactions %+v, want the placeholder %s", redacts, placeholder.target)
	}
	sends := e.mx.callsOf("SendEvent")
	if len(sends) != 2 || sends[1].evtType != event.EventSticker {
		t.Fatalf("sent %q, want the placeholder and the sticker", summaries(sends))
	}
	parts, err := e.db.Message.GetByWAID(e.ctx, p.Key, "U2")
	if err != nil || len(parts) != 1 || parts[0].MXID != sends[1].target {
		t.Fatalf("message map has %+v (%v), want the sticker's event", parts, err)
	}
	if ph, err := e.db.Placeholder.Get(e.ctx, p.Key, "U2"); err != nil || ph != nil {
		t.Fatalf("placeholder still stored: %+v (%v)", ph, err)
	}
}

// A message that arrived before whatsmeow reported it undecryptable needs no placeholder; a
// view-once message gets a notice that nothing will replace.
func TestNoPlaceholderNeeded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, waText(testContact, testContact, "U3", "already here")); err != nil {
		t.Fatal(err)
	}
	if err := e.m.HandleWhatsAppUndecryptable(e.ctx, e.login, undecryptable("U3", false)); err != nil {
		t.Fatal(err)
	}
	if err := e.m.HandleWhatsAppUndecryptable(e.ctx, e.login, undecryptable("V1", true)); err != nil {
		t.Fatal(err)
	}
	want := []string{"m.room.message:already here", "m.room.message:" + viewOnceText}
	if got := summaries(e.mx.callsOf("SendEvent")); !slices.Equal(got, want) {
		t.Fatalf("sent %q, want %q", got, want)
	}
	if ph, err := e.db.Placeholder.Get(e.ctx, e.portal(testContact).Key, "V1"); err != nil || ph != nil {
		t.Fatalf("view-once notice stored as placeholder: %+v (%v)", ph, err)
	}
}

// A resent message that acts on another message (a reaction, an edit, a deletion) has no event of
// its own: its effect lands on the message it acts on and its placeholder is redacted, never left
// "waiting" in the room.
func TestPlaceholderOfReactionEditOrDeleteIsRedacted(t *testing.T) {
	t.Parallel()
	edited := &waE2E.Message{Conversation: proto.String("fixed text")}
	for _, tc := range []struct {
		name   string
		resent *events.Message
		// what the resent message does to the original text's event
		wantType event.Type
		wantVia  string
	}{
		{"reaction", waReaction(testContact, "R1", "T1", "👍"), event.EventReaction, "SendEvent"},
		{"edit", waProtocol(testContact, "R1", "T1", edited), event.EventMessage, "SendEvent"},
		{"delete", waProtocol(testContact, "R1", "T1", nil), event.EventRedaction, "Redact"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, waText(testContact, testContact, "T1", "original text")); err != nil {
				t.Fatal(err)
			}
			original := e.mx.callsOf("SendEvent")[0].target
			if err := e.m.HandleWhatsAppUndecryptable(e.ctx, e.login, undecryptable("R1", false)); err != nil {
				t.Fatal(err)
			}
			placeholder := e.mx.callsOf("SendEvent")[1].target
			if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, tc.resent); err != nil {
				t.Fatal(err)
			}
			// The effect on the original message.
			switch tc.wantVia {
			case "SendEvent":
				sends := e.mx.callsOf("SendEvent")
				if len(sends) != 3 || sends[2].evtType != tc.wantType {
					t.Fatalf("sent %q, want the text, the placeholder and a %s", summaries(sends), tc.wantType.Type)
				}
				var relatesTo *event.RelatesTo
				switch content := sends[2].content.(type) {
				case *event.ReactionEventContent:
					relatesTo = &content.RelatesTo
				case *event.MessageEventContent:
					relatesTo = content.RelatesTo
				}
				if relatesTo == nil || relatesTo.EventID != original {
					t.Fatalf("%s relates to %+v, want the original %s", tc.name, relatesTo, original)
				}
			}
			// The placeholder is redacted (after the original, for a delete), and forgotten.
			var redacted []string
			for _, call := range e.mx.callsOf("Redact") {
				redacted = append(redacted, call.target.String())
			}
			want := []string{placeholder.String()}
			if tc.wantVia == "Redact" {
				want = []string{original.String(), placeholder.String()}
			}
			if !slices.Equal(redacted, want) {
				t.Fatalf("redacted %v, want %v", redacted, want)
			}
			if ph, err := e.db.Placeholder.Get(e.ctx, e.portal(testContact).Key, "R1"); err != nil || ph != nil {
				t.Fatalf("placeholder still stored: %+v (%v)", ph, err)
			}
		})
	}
}
