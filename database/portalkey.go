package database

import (
	"go.mau.fi/whatsmeow/types"
)

// PortalKey identifies a portal: a WhatsApp chat as seen by one bridge user or by everyone.
//
// JID is the chat JID without a device part. Receiver is empty for chats every bridge user shares
// (groups and newsletters) and is the owning bridge user's WhatsApp JID (without device) for chats
// that only exist from one account's point of view (one-to-one chats, status and broadcast lists).
// Build keys with NewPortalKey so that the same chat always yields the same key.
type PortalKey struct {
	JID      types.JID
	Receiver types.JID
}

// NewPortalKey returns the normalised key of chat as seen by the bridge user whose WhatsApp JID is
// receiver. Device parts are dropped; the receiver is dropped for shared chats (groups, newsletters).
func NewPortalKey(chat, receiver types.JID) PortalKey {
	chat = chat.ToNonAD()
	switch chat.Server {
	case types.GroupServer, types.NewsletterServer:
		return PortalKey{JID: chat}
	default:
		return PortalKey{JID: chat, Receiver: receiver.ToNonAD()}
	}
}

// IsShared reports whether the portal is shared by all bridge users (it has no receiver).
func (pk PortalKey) IsShared() bool {
	return pk.Receiver.IsEmpty()
}

// String returns a readable form of the key for logs, "jid" or "jid|receiver".
func (pk PortalKey) String() string {
	if pk.IsShared() {
		return jidString(pk.JID)
	}
	return jidString(pk.JID) + "|" + jidString(pk.Receiver)
}

// sqlArgs returns the key as the two column values (jid, receiver); an empty receiver is stored as the empty string.
func (pk PortalKey) sqlArgs() (string, string) {
	return jidString(pk.JID), jidString(pk.Receiver)
}

// jidString is jid.String() (whatsmeow's types.JID.String) without its fmt.Sprintf for a JID that
// has neither device nor agent, as a portal key's JIDs have: every statement about a portal
// formats its key.
func jidString(jid types.JID) string {
	if jid.RawAgent == 0 && jid.Device == 0 && jid.User != "" && jid.Server != "" {
		return jid.User + "@" + jid.Server
	}
	return jid.String()
}
