package wasim

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// Contact is a simulated WhatsApp user's phone: a real whatsmeow client logged in as device 0 of a
// simulated account. Everything it sends goes through whatsmeow's own encryption, and everything
// it receives is recorded as whatsmeow events.
type Contact struct {
	*EventLog
	acct *Account
	cli  *whatsmeow.Client
	// available is what the phone announces after each connect (see presence.go). Guarded by
	// acct.srv.stateLock.
	available bool
}

// JID is the contact's phone-number JID.
func (c *Contact) JID() types.JID { return c.acct.pn }

// LID is the contact's LID.
func (c *Contact) LID() types.JID { return c.acct.lid }

// Account is the simulated account the contact belongs to.
func (c *Contact) Account() *Account { return c.acct }

// Client is the underlying whatsmeow client, for message kinds without a helper here.
func (c *Contact) Client() *whatsmeow.Client { return c.cli }

// Send sends msg to a user (PN or LID JID) through whatsmeow and returns its message id.
func (c *Contact) Send(ctx context.Context, to types.JID, msg *waE2E.Message) (types.MessageID, error) {
	resp, err := sendMessage(ctx, c.cli, to, msg)
	if err != nil {
		return "", err
	}
	return resp.ID, nil
}

// SendWithID sends msg to a user with the message ID id, as a phone resends a message that did not
// go out with its first ID.
func (c *Contact) SendWithID(ctx context.Context, to types.JID, msg *waE2E.Message, id types.MessageID) error {
	_, err := sendMessage(ctx, c.cli, to, msg, whatsmeow.SendRequestExtra{ID: id})
	return err
}

// SendText sends a plain text message.
func (c *Contact) SendText(ctx context.Context, to types.JID, text string) (types.MessageID, error) {
	return c.Send(ctx, to, &waE2E.Message{Conversation: proto.String(text)})
}

// WaitConnected waits until the contact's client is logged in and online.
func (c *Contact) WaitConnected(ctx context.Context) error {
	ticker := time.NewTicker(20 * time.Millisecond)
	defer ticker.Stop()
	for !c.cli.IsLoggedIn() || !c.acct.Online(0) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("contact %s did not connect: %w", c.acct.pn.User, ctx.Err())
		case <-ticker.C:
		}
	}
	return nil
}

func (c *Contact) close() {
	c.cli.Disconnect()
}
