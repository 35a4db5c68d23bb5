package msgconv

import (
	"context"
	"regexp"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
)

// Mentioning everyone: WhatsApp's apps write "@all" in the text and set ContextInfo.nonJIDMentions
// to 1 (the count of mentions that are not a user's JID); Matrix sets m.mentions.room, and clients
// write "@room" in the body.

// roomMention matches "@room" as a word, as Matrix clients write it.
var roomMention = regexp.MustCompile(`(^|[^\p{L}\p{N}_])@room\b`)

// whatsAppEveryone is what WhatsApp's apps write for a mention of everyone in a group.
const whatsAppEveryone = "@all"

// mentionEveryone rewrites the Matrix "@room" in text as WhatsApp's "@all" and marks ctxInfo as
// mentioning everyone. When text has no "@room", "@all" is put in front so that WhatsApp shows who
// was notified.
func mentionEveryone(text string, ctxInfo *waE2E.ContextInfo) string {
	ctxInfo.NonJIDMentions = proto.Uint32(1)
	if roomMention.MatchString(text) {
		return roomMention.ReplaceAllString(text, "${1}"+whatsAppEveryone)
	}
	if text == "" {
		return whatsAppEveryone
	}
	return whatsAppEveryone + " " + text
}

// addIntentionalMentions adds the users listed in content's m.mentions but not written as pills
// (some clients send mentions only there) to mentions, when they resolve to WhatsApp users.
func addIntentionalMentions(ctx context.Context, content *event.MessageEventContent, resolve UserResolver, mentions []types.JID) []types.JID {
	if content.Mentions == nil || resolve == nil {
		return mentions
	}
	list := mentionList(mentions)
	for _, userID := range content.Mentions.UserIDs {
		if jid, ok := resolve.ResolveMatrixUser(ctx, userID); ok && isDigits(jid.User) {
			list.add(jid)
		}
	}
	return list
}
