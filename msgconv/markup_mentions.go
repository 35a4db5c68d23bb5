package msgconv

import (
	"context"
	"slices"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"
)

// MentionResolver maps a WhatsApp user mentioned in a WhatsApp message to the
// Matrix user to mention instead.
type MentionResolver interface {
	// ResolveWhatsAppUser returns the Matrix user ID and display name for the
	// WhatsApp user jid: the puppet (ghost) of a contact or, for the JID of a
	// logged-in bridge user, that user's real Matrix ID. It is called once per
	// distinct mentioned JID per message and may block (e.g. on a database
	// lookup). ok is false when the JID cannot be mapped; the mention is then
	// left as plain "@digits" text. An empty displayName is allowed; the user
	// ID is shown instead.
	ResolveWhatsAppUser(ctx context.Context, jid types.JID) (userID id.UserID, displayName string, ok bool)
}

// MentionResolverFunc adapts a function to the MentionResolver interface.
type MentionResolverFunc func(ctx context.Context, jid types.JID) (id.UserID, string, bool)

// ResolveWhatsAppUser calls f.
func (f MentionResolverFunc) ResolveWhatsAppUser(ctx context.Context, jid types.JID) (id.UserID, string, bool) {
	return f(ctx, jid)
}

// UserResolver maps a Matrix user mentioned in a Matrix message to the
// WhatsApp user to mention instead.
type UserResolver interface {
	// ResolveMatrixUser returns the WhatsApp JID of the Matrix user userID: the
	// contact behind a puppet, or the WhatsApp account of a logged-in bridge
	// user. ok is false when userID is not a WhatsApp user; the pill is then
	// written as its display text. It may block (e.g. on a database lookup).
	ResolveMatrixUser(ctx context.Context, userID id.UserID) (jid types.JID, ok bool)
}

// UserResolverFunc adapts a function to the UserResolver interface.
type UserResolverFunc func(ctx context.Context, userID id.UserID) (types.JID, bool)

// ResolveMatrixUser calls f.
func (f UserResolverFunc) ResolveMatrixUser(ctx context.Context, userID id.UserID) (types.JID, bool) {
	return f(ctx, userID)
}

// resolvedMention is the Matrix side of one mentioned WhatsApp user.
type resolvedMention struct {
	userID id.UserID
	name   string
	ok     bool
}

// mentionCache resolves each mentioned JID at most once per message.
type mentionCache struct {
	ctx     context.Context
	resolve MentionResolver
	cache   map[types.JID]resolvedMention
}

func newMentionCache(ctx context.Context, resolve MentionResolver) *mentionCache {
	return &mentionCache{ctx: ctx, resolve: resolve, cache: make(map[types.JID]resolvedMention)}
}

func (mc *mentionCache) get(jid types.JID) resolvedMention {
	if mc.resolve == nil {
		return resolvedMention{}
	}
	if rm, found := mc.cache[jid]; found {
		return rm
	}
	userID, name, ok := mc.resolve.ResolveWhatsAppUser(mc.ctx, jid)
	rm := resolvedMention{userID: userID, name: name, ok: ok && userID != ""}
	if rm.name == "" {
		rm.name = string(userID)
	}
	mc.cache[jid] = rm
	return rm
}

// mentionIndex maps the digits written after "@" in WhatsApp text to the
// mentioned JID. WhatsApp writes the user part of the JID (a phone number or
// a LID) after the "@"; the server part only appears in MentionedJID.
func mentionIndex(mentions []types.JID) map[string]types.JID {
	if len(mentions) == 0 {
		return nil
	}
	idx := make(map[string]types.JID, len(mentions))
	for _, jid := range mentions {
		if jid.User == "" || !isDigits(jid.User) {
			continue
		}
		if _, dup := idx[jid.User]; !dup {
			idx[jid.User] = jid
		}
	}
	return idx
}

// mentionList collects the JIDs mentioned in an outgoing WhatsApp message in
// order of first appearance, without duplicates.
type mentionList []types.JID

func (ml *mentionList) add(jid types.JID) {
	if !slices.Contains(*ml, jid) {
		*ml = append(*ml, jid)
	}
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
