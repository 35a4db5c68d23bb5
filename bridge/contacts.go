package bridge

import (
	"context"
	"sort"
	"strings"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// contactEntry is one of a user's WhatsApp contacts as the list-contacts command and the
// provisioning API show it.
type contactEntry struct {
	JID types.JID
	// Name is the ghost's display name for the contact; Phone is "+<digits>" when the number is
	// known, else empty (a contact known only by LID).
	Name  string
	Phone string
	Ghost id.UserID
	Info  types.ContactInfo
}

// listContacts returns the user's WhatsApp contacts whose name (display, saved, first, push or
// verified business name) or number contains query (case insensitive; all when empty), each person once (WhatsApp stores a contact under its phone JID
// and its LID), sorted by name. The user must have a WhatsApp client.
func (br *Bridge) listContacts(ctx context.Context, user *Account, query string) ([]contactEntry, error) {
	contacts, err := user.wa.AllContacts(ctx)
	if err != nil {
		return nil, err
	}
	lids := userLogin{user}.LIDs()
	query = strings.ToLower(strings.TrimSpace(query))
	merged := make(map[types.JID]types.ContactInfo, len(contacts))
	for jid, info := range contacts {
		canonical, err := br.puppets.Canonical(ctx, jid, lids)
		if err != nil {
			continue
		}
		if prev, ok := merged[canonical]; ok && prev.FullName != "" && info.FullName == "" {
			continue
		}
		merged[canonical] = info
	}
	var out []contactEntry
	for jid, info := range merged {
		display, _ := br.puppets.RenderName(jid, puppet.FromContact(info))
		phone := ""
		if jid.Server == types.DefaultUserServer {
			phone = "+" + jid.User
		}
		if query != "" && !contactMatches(query, display, info.FullName, info.FirstName, info.PushName, info.BusinessName, phone) {
			continue
		}
		ghost := br.puppets.MXIDFor(jid)
		if ghost == "" {
			continue
		}
		out = append(out, contactEntry{JID: jid, Name: display, Phone: phone, Ghost: ghost, Info: info})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].JID.String() < out[j].JID.String()
	})
	return out, nil
}

// contactMatches reports whether one of fields contains query (already lower-cased).
func contactMatches(query string, fields ...string) bool {
	for _, f := range fields {
		if f != "" && strings.Contains(strings.ToLower(f), query) {
			return true
		}
	}
	return false
}
