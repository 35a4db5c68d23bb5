package bridge

import (
	"context"
	"sync"

	"go.mau.fi/whatsmeow/types"
)

// contactCache is a user's view of their WhatsApp contacts (names WhatsApp told us about).
//
// The bridge keeps its own copy instead of asking whatsmeow's store per message: the store's
// GetContact copies a cached entry after releasing its lock, which races with whatsmeow updating push
// names in the background. GetAllContacts copies under the lock, so the cache is filled from it once
// and then follows the events.
type contactCache struct {
	byJID  map[types.JID]types.ContactInfo
	loaded bool
	lock   sync.Mutex
}

// contact returns what is known about the first of jids that is known (phone JID and LID of one person).
func (user *User) contact(ctx context.Context, jids ...types.JID) types.ContactInfo {
	cc := &user.contacts
	cc.lock.Lock()
	defer cc.lock.Unlock()
	if !cc.loaded {
		if cli := user.getClient(); cli != nil && cli.Store != nil && cli.Store.Contacts != nil {
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

// updateContact applies a change WhatsApp announced.
func (user *User) updateContact(jid types.JID, change func(info *types.ContactInfo)) {
	cc := &user.contacts
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

// reset makes the next lookup reload the contacts from the store (after a reconnect, app state may
// have brought changes).
func (cc *contactCache) reset() {
	cc.lock.Lock()
	cc.loaded = false
	cc.lock.Unlock()
}
