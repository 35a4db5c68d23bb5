package puppet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"go.mau.fi/whatsmeow/types"
)

// Name sources recorded with a puppet's display name.
const (
	NameSourceContact  = "contact"  // the user's address book (full or first name)
	NameSourceBusiness = "business" // the verified business name
	NameSourcePush     = "push"     // the name the contact set for themselves
	NameSourcePhone    = "phone"    // only the phone number is known
	NameSourceFallback = "fallback" // nothing is known (a LID-only contact without names)
)

// FallbackName stands in for the phone number of a contact known only by LID when no name is
// known either, so that the display name template still renders something readable. The last
// digits of the LID follow it ("WhatsApp user …1234"), so that two such contacts can be told apart.
const FallbackName = "WhatsApp user"

// fallbackSuffixDigits is how many trailing LID digits follow FallbackName.
const fallbackSuffixDigits = 4

// ContactInfo is what WhatsApp currently says about a contact. Pass the complete current
// information (for example whatsmeow's contact store entry plus the latest push name): the display
// name is rendered from exactly these fields, so a field left empty counts as unknown.
type ContactInfo struct {
	// FullName and FirstName come from the address book of the bridge user's phone.
	FullName  string
	FirstName string
	// PushName is the name the contact chose for themselves.
	PushName string
	// BusinessName is the verified name of a business account.
	BusinessName string
	// Phone is the number as "+<digits>" (a redacted form like "+1∙∙∙80" is fine for LID contacts).
	// When empty it is derived from the puppet's phone JID, or for a LID-keyed puppet from the
	// number learned later (SyncProfile).
	Phone string
	// Avatar is the contact's current profile picture; nil means "not checked in this update" and
	// leaves the avatar as it is.
	Avatar *Avatar
}

// FromContact converts whatsmeow's contact store entry (client.Store.Contacts.GetContact) into
// ContactInfo. Its redacted phone number, if any, becomes Phone. Avatar is left nil.
func FromContact(contact types.ContactInfo) ContactInfo {
	return ContactInfo{
		FullName:     contact.FullName,
		FirstName:    contact.FirstName,
		PushName:     contact.PushName,
		BusinessName: contact.BusinessName,
		Phone:        contact.RedactedPhone,
	}
}

// nameData is what bridge.displayname_template sees.
type nameData struct {
	FullName, FirstName, PushName, BusinessName, Phone string
}

// RenderName returns the display name that SyncProfile would give the contact jid (canonical form)
// with the given information, and the source it came from.
func (m *Manager) RenderName(jid types.JID, info ContactInfo) (name, source string) {
	data := nameData{
		FullName:     CleanName(info.FullName),
		FirstName:    CleanName(info.FirstName),
		PushName:     CleanName(info.PushName),
		BusinessName: CleanName(info.BusinessName),
		Phone:        CleanName(info.Phone),
	}
	if data.Phone == "" && isPhone(jid) {
		data.Phone = "+" + jid.User
	}
	switch {
	case data.FullName != "" || data.FirstName != "":
		source = NameSourceContact
	case data.BusinessName != "":
		source = NameSourceBusiness
	case data.PushName != "":
		source = NameSourcePush
	case data.Phone != "":
		source = NameSourcePhone
	default:
		source = NameSourceFallback
		data.Phone = FallbackName
		if digits := jid.User; !isPhone(jid) && digits != "" {
			data.Phone += " …" + digits[max(0, len(digits)-fallbackSuffixDigits):]
		}
	}
	var sb strings.Builder
	if err := m.nameTemplate.Execute(&sb, data); err != nil {
		m.log.Warn().Err(err).Msg("Failed to render bridge.displayname_template")
		sb.Reset()
	}
	name = CleanName(sb.String())
	if name == "" {
		// The template used none of the fields we have: show the best one bare.
		for _, candidate := range []string{data.FullName, data.FirstName, data.BusinessName, data.PushName, data.Phone} {
			if candidate != "" {
				name = candidate
				break
			}
		}
	}
	return name, source
}

// SyncProfile brings the ghost's display name and (when info.Avatar is set) avatar up to date with
// info, and stores what was applied. Only what changed since the last successful sync is sent to
// the homeserver, so repeating a sync with the same information makes no request. A failed step is
// retried by the next sync. Syncs of one puppet are serialized (they may block on the homeserver);
// reads of the puppet and Manager lookups do not wait for them. A puppet that was merged into a
// phone puppet ignores syncs.
func (p *Puppet) SyncProfile(ctx context.Context, info ContactInfo) error {
	return p.SyncProfileFrom(ctx, func() ContactInfo { return info })
}

// SyncProfileFrom is SyncProfile with the information read by current while the puppet's syncs
// are serialized. Use it when the information comes from a store that other events update (a
// login's contacts): of two concurrent syncs the later one then applies the newer information,
// where SyncProfile with information read before waiting could put back an older name (a
// business name after the push name that arrived with the same message, say).
func (p *Puppet) SyncProfileFrom(ctx context.Context, current func() ContactInfo) error {
	p.syncLock.Lock()
	defer p.syncLock.Unlock()
	info := current()
	p.lock.Lock()
	row, merged := *p.row, p.merged
	p.lock.Unlock()
	if merged {
		return nil
	}
	var errs []error
	changed := false
	if info.Phone == "" && !row.Phone.IsEmpty() {
		info.Phone = "+" + row.Phone.User
	}
	name, source := p.m.RenderName(p.JID, info)
	if name != row.Name || !row.NameSet {
		err := p.EnsureRegistered(ctx)
		if err == nil {
			err = p.Intent().SetDisplayName(ctx, name)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("failed to set display name of %s: %w", p.MXID, err))
		} else {
			p.log.Debug().Str("name_source", source).Msg("Updated ghost display name")
		}
		row.Name, row.NameSource, row.NameSet = name, source, err == nil
		changed = true
	} else if source != row.NameSource {
		row.NameSource = source
		changed = true
	}
	if info.Avatar != nil {
		if err := p.syncAvatar(ctx, &row, info.Avatar); err != nil {
			errs = append(errs, err)
		}
		row.ContactInfoUpdatedAt = time.Now()
		changed = true
	}
	if changed {
		if err := p.saveProfile(ctx, &row); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CleanName is a name chosen on WhatsApp made fit for a Matrix display name or room name: line
// breaks, tabs and other control characters become single spaces, runs of white space collapse
// to one, and the ends are trimmed. Everything else (emoji, any script) is kept.
func CleanName(s string) string {
	var sb strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			space = sb.Len() > 0
			continue
		}
		if space {
			sb.WriteByte(' ')
			space = false
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
