// Package puppet maps WhatsApp contacts to Matrix ghost users ("puppets") in the appservice's
// exclusive namespace and keeps the ghosts' display names and avatars in step with WhatsApp.
//
// Identity: WhatsApp addresses a person either by phone JID (<digits>@s.whatsapp.net) or by LID
// (<digits>@lid, a hidden identifier). The bridge keeps one puppet per person, keyed by its
// canonical JID:
//
//   - the phone JID (no device, no agent) whenever the phone number is known, either because the
//     phone JID arrived or because a login's LID store maps the LID to it;
//   - otherwise the LID JID.
//
// The ghost's localpart is bridge.username_template applied to the phone digits, or to
// "lid-<digits>" for a contact only known by LID. When a contact first seen only by LID later
// resolves to a phone number, its LID row is merged into the phone row (the LID is recorded there),
// so that lookups by either form return the same puppet from then on. The old "lid-" ghost is not
// deleted from the homeserver: it simply stays unused, and its user ID still resolves to the
// phone puppet through Manager.GetByMXID.
//
// Profiles: SyncProfile renders bridge.displayname_template from the contact's information and
// uploads the contact's picture; the values applied are stored in the puppets table, so a sync
// with unchanged information makes no homeserver request at all.
//
// Concurrency: Manager and Puppet are safe for concurrent use. The Manager holds one *Puppet per
// canonical JID, so every caller asking for the same person gets the same object. Lookups never
// wait for the homeserver: profile syncs of a puppet are serialized by a lock of their own, while
// the short lock guarding a puppet's stored row is never held across network I/O. Lock order is
// Manager, then Puppet row; a Puppet never calls back into its Manager while holding a lock.
//
// This package depends on config and database only; it never imports bridge or portal.
package puppet
