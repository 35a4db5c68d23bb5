package whatsapp

import (
	"context"
	"fmt"
	"sync"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// contactCache is a login's view of its WhatsApp contacts (names WhatsApp told us about).
//
// The login keeps its own copy instead of asking whatsmeow's store per message: the store's
// GetContact copies a cached entry after releasing its lock, which races with whatsmeow updating push
// names in the background. GetAllContacts copies under the lock, so the cache is filled from it once
// and then follows the events.
type contactCache struct {
	byJID  map[types.JID]types.ContactInfo
	loaded bool
	lock   sync.Mutex
}

// Contact returns what is known about the first of jids that is known (phone JID and LID of one
// person), or an empty ContactInfo.
func (l *Login) Contact(ctx context.Context, jids ...types.JID) types.ContactInfo {
	cc := &l.contacts
	cc.lock.Lock()
	defer cc.lock.Unlock()
	if !cc.loaded {
		if cli := l.Client(); cli != nil && cli.Store != nil && cli.Store.Contacts != nil {
			if all, err := cli.Store.Contacts.GetAllContacts(ctx); err == nil {
				cc.byJID = all
				cc.loaded = true
			}
		}
	}
	for _, jid := range jids {
		if info, ok := cc.byJID[jid.ToNonAD()]; ok && !jid.IsEmpty() {
			return info
		}
	}
	return types.ContactInfo{}
}

// AllContacts returns every contact of the account's store, by JID (phone JIDs and LIDs alike).
// It fails when the login has no client.
func (l *Login) AllContacts(ctx context.Context) (map[types.JID]types.ContactInfo, error) {
	cli := l.Client()
	if cli == nil || cli.Store == nil || cli.Store.Contacts == nil {
		return nil, ErrNotLoggedIn
	}
	contacts, err := cli.Store.Contacts.GetAllContacts(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to read contacts: %w", err)
	}
	return contacts, nil
}

// update applies a change WhatsApp announced to the contact jid.
func (cc *contactCache) update(jid types.JID, change func(info *types.ContactInfo)) {
	cc.lock.Lock()
	defer cc.lock.Unlock()
	if cc.byJID == nil {
		cc.byJID = make(map[types.JID]types.ContactInfo)
	}
	info := cc.byJID[jid.ToNonAD()]
	change(&info)
	info.Found = true
	cc.byJID[jid.ToNonAD()] = info
}

// applyContact follows a contact edit synced from the phone's address book.
func (cc *contactCache) applyContact(evt *events.Contact) {
	if action := evt.Action; action != nil {
		cc.update(evt.JID, func(c *types.ContactInfo) {
			c.FullName, c.FirstName = action.GetFullName(), action.GetFirstName()
		})
	}
}

// applyBusinessName follows a business account's new name, under the JID it came with and, when
// the message that carried it named one, under the sender's other JID (phone number or LID).
func (cc *contactCache) applyBusinessName(evt *events.BusinessName) {
	set := func(c *types.ContactInfo) { c.BusinessName = evt.NewBusinessName }
	cc.update(evt.JID, set)
	if evt.Message != nil && !evt.Message.SenderAlt.IsEmpty() && evt.Message.SenderAlt.User != evt.JID.User {
		cc.update(evt.Message.SenderAlt, set)
	}
}

// notePushName remembers the push name a message or push name change carried for its sender.
func (cc *contactCache) notePushName(sender types.JID, pushName string) {
	if pushName == "" || sender.IsEmpty() {
		return
	}
	cc.update(sender, func(c *types.ContactInfo) { c.PushName = pushName })
}

// reset makes the next lookup reload the contacts from the store (after a reconnect, app state may
// have brought changes).
func (cc *contactCache) reset() {
	cc.lock.Lock()
	cc.loaded = false
	cc.lock.Unlock()
}

// Sender returns the JID a message's push name belongs to: the phone JID when WhatsApp sent it
// along with a LID sender, else the sender.
func Sender(info types.MessageInfo) types.JID {
	if !info.SenderAlt.IsEmpty() && info.SenderAlt.Server == types.DefaultUserServer {
		return info.SenderAlt
	}
	return info.Sender
}
