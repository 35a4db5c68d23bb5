package portal

import (
	"context"
	"errors"
	"strings"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// convertWAMessage turns a WhatsApp message received by login into Matrix events sent as sender:
// attachments come through login's connection and go up as sender, mentions resolve to ghosts or
// bridge users, replies point at the quoted message when it is in the message map. An error (only
// from media: the connection is down, a transient download or upload failure) means the message
// must come again.
func (p *Portal) convertWAMessage(ctx context.Context, login Login, sender *puppet.Puppet, msg *waE2E.Message) (*msgconv.ConvertedMessage, error) {
	conv := p.whatsAppConverter(ctx, login, sender)
	converted, err := conv.Convert(ctx, msg)
	return converted, conversionError(err)
}

// convertWAViewOnce converts view-once media: shown once with a notice, or only a notice when
// bridge.view_once is off (msgconv.ConvertViewOnce).
func (p *Portal) convertWAViewOnce(ctx context.Context, login Login, sender *puppet.Puppet, msg *waE2E.Message) (*msgconv.ConvertedMessage, error) {
	conv := p.whatsAppConverter(ctx, login, sender)
	converted, err := conv.ConvertViewOnce(ctx, msg, p.m.cfg.Bridge.ViewOnceEnabled())
	return converted, conversionError(err)
}

// whatsAppConverter is the conversion of messages login received from sender.
func (p *Portal) whatsAppConverter(ctx context.Context, login Login, sender *puppet.Puppet) *msgconv.FromWhatsApp {
	conv := &msgconv.FromWhatsApp{
		Matrix:      p.matrixMedia(sender),
		Mentions:    msgconv.MentionResolverFunc(p.resolveMention(login)),
		QuotedEvent: p.quotedEvent,
	}
	if p.row.MXID != "" {
		conv.EncryptMedia = p.m.matrix.IsEncrypted(ctx, p.row.MXID)
	}
	if cli := login.Client(); cli != nil {
		conv.WhatsApp = waMediaIO{cli: cli}
	}
	return conv
}

// quotedEvent finds the Matrix event of a quoted WhatsApp message in this chat (the first part).
func (p *Portal) quotedEvent(ctx context.Context, quotedID types.MessageID) (id.EventID, error) {
	parts, err := p.m.db.Message.GetByWAID(ctx, p.Key, quotedID)
	if err != nil || len(parts) == 0 {
		return "", err
	}
	return parts[0].MXID, nil
}

// resolveMention resolves a mentioned JID to a Matrix user for the formatter: a bridge user's own
// account, else the contact's ghost with its display name.
func (p *Portal) resolveMention(login Login) func(ctx context.Context, jid types.JID) (id.UserID, string, bool) {
	return func(ctx context.Context, jid types.JID) (id.UserID, string, bool) {
		if user := p.m.users.LoginByJID(ctx, jid); user != nil {
			return user.UserMXID(), "", true
		}
		ghost, err := p.m.puppets.Get(ctx, jid, login.LIDs())
		if err != nil {
			return "", "", false
		}
		name := strings.TrimSpace(ghost.DisplayName())
		if name == "" && ghost.JID.Server == types.DefaultUserServer {
			// A number the account has never seen (not a contact, no message yet): its number,
			// rather than the ID of a ghost the homeserver may not know yet.
			name = "+" + ghost.JID.User
		}
		return ghost.MXID, name, true
	}
}

// conversionError maps msgconv's failures to the portal's: a connection that is down to
// ErrNotConnected (the event waits), a permanent one to PermanentError (the user is told why).
func conversionError(err error) error {
	var perm msgconv.PermanentError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, msgconv.ErrNotConnected):
		return ErrNotConnected
	case errors.As(err, &perm):
		return permanent(perm.Err)
	}
	return err
}

// isEmptyMessage reports whether msg has no field set at all.
func isEmptyMessage(msg *waE2E.Message) bool {
	return msgconv.IsEmptyMessage(msg)
}
