package msgconv_test

import (
	"context"
	"fmt"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
)

// whatsAppServer is a WhatsApp media server whose every file is the same PNG image.
type whatsAppServer struct{}

func (whatsAppServer) Download(context.Context, whatsmeow.DownloadableMessage) ([]byte, error) {
	return []byte("\x89PNG\r\n\x1a\n"), nil
}

func (whatsAppServer) Upload(_ context.Context, data []byte, _ whatsmeow.MediaType) (whatsmeow.UploadResponse, error) {
	return whatsmeow.UploadResponse{URL: "https://mmg.example/1", DirectPath: "/1", FileLength: uint64(len(data))}, nil
}

// mediaRepo is a homeserver's media repository in memory.
type mediaRepo map[id.ContentURIString][]byte

func (m mediaRepo) Upload(_ context.Context, data []byte, _, fileName string) (id.ContentURIString, error) {
	uri := id.ContentURIString("mxc://example.org/" + fileName)
	m[uri] = data
	return uri, nil
}

func (m mediaRepo) Download(_ context.Context, uri id.ContentURIString) ([]byte, error) {
	return m[uri], nil
}

func ExampleFromWhatsApp_Convert() {
	bob := types.NewJID("4915112345678", types.DefaultUserServer)
	conv := &msgconv.FromWhatsApp{
		WhatsApp: whatsAppServer{},
		Matrix:   mediaRepo{},
		Mentions: msgconv.MentionResolverFunc(func(_ context.Context, jid types.JID) (id.UserID, string, bool) {
			return id.UserID("@whatsapp_" + jid.User + ":example.org"), "Bob", jid == bob
		}),
		QuotedEvent: func(_ context.Context, quotedID types.MessageID) (id.EventID, error) {
			return id.EventID("$event-of-" + quotedID), nil
		},
	}
	msg := &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
		Caption:     proto.String("*look* @4915112345678"),
		ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String("3EB0"), MentionedJID: []string{bob.String()}},
	}}
	converted, err := conv.Convert(context.Background(), msg)
	if err != nil {
		panic(err)
	}
	for _, part := range converted.Parts {
		c := part.Content
		fmt.Println(part.Type.Type, c.MsgType, c.URL, c.Info.MimeType)
		fmt.Println(c.Body, "|", c.FormattedBody)
		fmt.Println("reply to", c.RelatesTo.GetReplyTo(), "mentions", c.Mentions.UserIDs)
	}
	// Output:
	// m.room.message m.image mxc://example.org/image.png image/png
	// *look* Bob | <strong>look</strong> <a href="https://matrix.to/#/@whatsapp_4915112345678:example.org">Bob</a>
	// reply to $event-of-3EB0 mentions [@whatsapp_4915112345678:example.org]
}

func ExampleFromMatrix_Convert() {
	conv := &msgconv.FromMatrix{
		Matrix:   mediaRepo{"mxc://example.org/cat": []byte("GIF89a...")},
		WhatsApp: whatsAppServer{},
		Users: msgconv.UserResolverFunc(func(_ context.Context, userID id.UserID) (types.JID, bool) {
			return types.NewJID("4915112345678", types.DefaultUserServer), userID == "@whatsapp_4915112345678:example.org"
		}),
		QuotedMessage: func(_ context.Context, eventID id.EventID) (msgconv.QuotedMessage, bool, error) {
			return msgconv.QuotedMessage{}, false, nil
		},
		// No GIFToMP4 (no ffmpeg): a GIF goes as a file, and the sender is told.
		Note: func(text string) { fmt.Println("note:", text) },
	}
	text := &event.MessageEventContent{
		MsgType: event.MsgEmote, Body: "waves at Bob", Format: event.FormatHTML,
		FormattedBody: `waves at <a href="https://matrix.to/#/@whatsapp_4915112345678:example.org">Bob</a>`,
	}
	msg, err := conv.Convert(context.Background(), event.EventMessage, text)
	if err != nil {
		panic(err)
	}
	fmt.Println(msg.GetExtendedTextMessage().GetText(), msg.GetExtendedTextMessage().GetContextInfo().GetMentionedJID())

	sticker := &event.MessageEventContent{Body: "cat", URL: "mxc://example.org/cat"}
	msg, err = conv.Convert(context.Background(), event.EventSticker, sticker)
	if err != nil {
		panic(err)
	}
	fmt.Println(msg.GetDocumentMessage().GetMimetype(), msg.GetDocumentMessage().GetFileLength(), msg.GetStickerMessage() == nil)
	// Output:
	// /me waves at @4915112345678 [4915112345678@s.whatsapp.net]
	// note: Your GIF was sent to WhatsApp as a file, not as a playing GIF: WhatsApp's GIFs are looping videos, and converting it needs ffmpeg, which the bridge's server does not have.
	// image/gif 9 true
}

func ExampleTextToMatrix() {
	bob := types.NewJID("4915112345678", types.DefaultUserServer)
	resolve := msgconv.MentionResolverFunc(func(_ context.Context, jid types.JID) (id.UserID, string, bool) {
		return id.UserID("@whatsapp_" + jid.User + ":example.org"), "Bob", jid == bob
	})
	content := msgconv.TextToMatrix(context.Background(), "*hi* @4915112345678, see snake_case_name", []types.JID{bob}, resolve)
	fmt.Println(content.Body)
	fmt.Println(content.FormattedBody)
	fmt.Println(content.Mentions.UserIDs)
	// Output:
	// *hi* Bob, see snake_case_name
	// <strong>hi</strong> <a href="https://matrix.to/#/@whatsapp_4915112345678:example.org">Bob</a>, see snake_case_name
	// [@whatsapp_4915112345678:example.org]
}

func ExampleTextToWhatsApp() {
	resolve := msgconv.UserResolverFunc(func(_ context.Context, userID id.UserID) (types.JID, bool) {
		if userID == "@whatsapp_4915112345678:example.org" {
			return types.NewJID("4915112345678", types.DefaultUserServer), true
		}
		return types.JID{}, false
	})
	content := &event.MessageEventContent{
		MsgType: event.MsgText,
		Body:    "Bob: look at this",
		Format:  event.FormatHTML,
		FormattedBody: `<a href="https://matrix.to/#/@whatsapp_4915112345678:example.org">Bob</a>: ` +
			`<em>look</em> at <a href="https://example.com/x">this</a><ul><li>one</li><li><code>two</code></li></ul>`,
	}
	text, mentions := msgconv.TextToWhatsApp(context.Background(), content, resolve)
	fmt.Println(text)
	fmt.Println(mentions)
	// Output:
	// @4915112345678: _look_ at this (https://example.com/x)
	// - one
	// - `two`
	// [4915112345678@s.whatsapp.net]
}
