package msgconv_test

import (
	"context"
	"fmt"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
)

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
