package portal

import (
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
)

// TestWhatsAppViewOnce: view-once media is shown once with a notice (or, with bridge.view_once off,
// only a notice, without downloading it); the message map keeps nothing that could show it again,
// and a repeated delivery shows nothing new.
func TestWhatsAppViewOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		show  bool
		types []string // msgtype of each event sent
	}{
		{"shown once", true, []string{"m.image", "m.notice"}},
		{"hidden", false, []string{"m.notice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.m.cfg.Bridge.ViewOnce = &tt.show
			e.cli.media = []byte("\xff\xd8\xff\xe0 secret photo")
			dmRoom(t, e)
			before := len(e.mx.callsOf("SendEvent"))
			evt := waMessage(testContact, testContact, "VO1", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
				Mimetype: proto.String("image/jpeg"), URL: proto.String("https://mmg.example/vo"), DirectPath: proto.String("/vo"),
				MediaKey: []byte{1}, ViewOnce: proto.Bool(true),
			}})
			evt.IsViewOnce = true
			for range 2 {
				if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, evt); err != nil {
					t.Fatal(err)
				}
			}
			calls := e.mx.callsOf("SendEvent")[before:]
			if len(calls) != len(tt.types) {
				t.Fatalf("%d events sent, want %d", len(calls), len(tt.types))
			}
			for i, call := range calls {
				content, _ := call.content.(*event.MessageEventContent)
				if content == nil || string(content.MsgType) != tt.types[i] {
					t.Errorf("event %d is %+v, want %s", i, call.content, tt.types[i])
				}
			}
			if last := calls[len(calls)-1].content.(*event.MessageEventContent); tt.show == (last.Body == msgconv.ViewOnceHiddenText) {
				t.Errorf("notice %q", last.Body)
			}
			parts, err := e.db.Message.GetByWAID(e.ctx, e.portal(testContact).Key, "VO1")
			if err != nil || len(parts) != len(tt.types) {
				t.Fatalf("stored %d parts (%v)", len(parts), err)
			}
			for _, part := range parts {
				if part.Media != "" {
					t.Errorf("part %d keeps media %s", part.Part, part.Media)
				}
			}
			quote := unmarshalQuote(parts[0].Quote).GetImageMessage()
			if quote == nil || !quote.GetViewOnce() || quote.URL != nil || quote.MediaKey != nil {
				t.Errorf("quote keeps %v", quote)
			}
		})
	}
}
