package msgconv

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func TestFromWhatsAppLongTextIsSplit(t *testing.T) {
	t.Parallel()
	paragraph := strings.Repeat("A line of *text* with <html> & \"quotes\" in it. ", 40)
	tests := []struct {
		name     string
		text     string
		minParts int
	}{
		{name: "short", text: "hello", minParts: 1},
		{name: "paragraphs", text: strings.Repeat(paragraph+"\n\n", 100), minParts: 3},
		{name: "one long line", text: strings.Repeat("word ", 40000), minParts: 3},
		{name: "no spaces, multibyte", text: strings.Repeat("日本語ü", 20000), minParts: 2},
		{name: "formatting-heavy", text: strings.Repeat("*b* _i_ ~s~ `c` ", 10000), minParts: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conv := &FromWhatsApp{QuotedEvent: fakeQuotedEvent}
			msg := &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
				Text: proto.String(tt.text), ContextInfo: replyInfo(quotedWAID)}}
			converted, err := conv.Convert(context.Background(), msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(converted.Parts) < tt.minParts {
				t.Fatalf("%d parts, want at least %d", len(converted.Parts), tt.minParts)
			}
			var joined strings.Builder
			for i, part := range converted.Parts {
				if size := contentSize(part.Content); size > maxEventContentBytes {
					t.Errorf("part %d has %d bytes of content, over %d", i, size, maxEventContentBytes)
				}
				if !utf8.ValidString(part.Content.Body) {
					t.Errorf("part %d is not valid UTF-8", i)
				}
				if got := part.Content.RelatesTo.GetReplyTo(); (i == 0) != (got == quotedEventID) {
					t.Errorf("part %d replies to %q", i, got)
				}
				joined.WriteString(part.Content.Body)
			}
			if joined.String() != tt.text {
				t.Error("the parts do not add up to the text, in order")
			}
		})
	}
}

func TestFromMatrixTextTooLongForWhatsApp(t *testing.T) {
	t.Parallel()
	conv := &FromMatrix{}
	ok := strings.Repeat("ü", MaxWhatsAppTextLength)
	if _, err := conv.ConvertText(context.Background(), plain(ok)); err != nil {
		t.Errorf("text at the limit: %v", err)
	}
	_, err := conv.ConvertText(context.Background(), plain(ok+"!"))
	var perm PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "too long for WhatsApp") {
		t.Errorf("text over the limit: err = %v, want a PermanentError saying it is too long", err)
	}
	mx := &fakeMatrix{files: map[id.ContentURIString][]byte{"mxc://example.org/cat": pngData}}
	wa := &fakeWhatsApp{}
	media := &FromMatrix{Matrix: mx, WhatsApp: wa}
	_, err = media.Convert(context.Background(), event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgImage, Body: strings.Repeat("x ", MaxWhatsAppTextLength/3), FileName: "cat.png", URL: "mxc://example.org/cat", Format: event.FormatHTML,
		FormattedBody: strings.Repeat("<b>x</b> ", MaxWhatsAppTextLength/3)})
	if !errors.As(err, &perm) {
		t.Errorf("caption over the limit: err = %v, want a PermanentError", err)
	}
	if wa.uploaded != nil {
		t.Error("the attachment was uploaded although its caption cannot be sent")
	}
}

func FuzzSplitText(f *testing.F) {
	for _, seed := range []string{"a b", "line\nline", "para\n\npara", "日本語ü", "x", "\n\n\n", "  "} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) < 2 {
			return
		}
		first, rest := splitText(text)
		if first+rest != text {
			t.Fatalf("split %q into %q + %q", text, first, rest)
		}
		if utf8.ValidString(text) && (!utf8.ValidString(first) || !utf8.ValidString(rest)) {
			t.Fatalf("split %q inside a character", text)
		}
		if (first == "" || rest == "") && utf8.RuneCountInString(text) > 1 {
			t.Fatalf("split %q without progress", text)
		}
	})
}

// TestSurelyFits: the shortcut that skips measuring a text's JSON never says a content fits that
// does not, even for texts that take six bytes per byte in JSON.
func TestSurelyFits(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 100, 1000, 5000, 9000, 9300, 9400, 12000} {
		for _, char := range []string{"a", "\x01", "<", "é"} {
			text := strings.Repeat(char, n/len(char))
			content := &event.MessageEventContent{MsgType: event.MsgText, Body: text, Format: event.FormatHTML, FormattedBody: text,
				Mentions: &event.Mentions{UserIDs: []id.UserID{"@whatsapp_4915112345678:example.org"}}}
			if surelyFits(content) && contentSize(content) > maxEventContentBytes {
				t.Errorf("%d × %q: said to fit, but its JSON has %d bytes", n, char, contentSize(content))
			}
		}
	}
	if !surelyFits(&event.MessageEventContent{MsgType: event.MsgText, Body: "hello"}) {
		t.Error("a short text is not said to fit")
	}
}
