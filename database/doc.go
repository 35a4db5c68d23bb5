// Package database is the bridge's persistence layer: one SQL database, PostgreSQL (lib/pq) or
// embedded SQLite (modernc.org/sqlite, pure Go), holding the bridge's own tables and whatsmeow's
// device and Signal key store.
//
// Open connects, Upgrade brings both schemas up to date (the bridge's tables are versioned in the
// "version" table by the numbered files in upgrades/, whatsmeow's in "whatsmeow_version"), and
// WhatsmeowContainer hands the same connection pool to whatsmeow. Each table has one query type,
// reached through a field of Database; getters return nil (not an error) when no row matches.
//
// Conventions shared by all tables:
//   - Timestamps are stored as Unix milliseconds; the zero time.Time is stored as 0.
//   - WhatsApp JIDs are stored in whatsmeow's string form without device part, except users.wa_jid,
//     which is the bridge's own device JID.
//   - A portal is keyed by (jid, receiver): receiver is the empty string for chats shared by all
//     bridge users (groups, newsletters) and the owning user's JID for private chats; see NewPortalKey.
//   - Messages, reactions and outbox rows belong to a portal (foreign key): the portal row must be
//     stored first, and deleting it deletes them.
//   - Every method takes ctx first and joins a transaction started with DB.DoTxn on that ctx.
//
// Tables:
//
//	users             Matrix users of the bridge; wa_jid is the linked WhatsApp device (NULL when
//	                  logged out), with phone, push name, management room and space room.
//	puppets           WhatsApp contacts and their Matrix ghosts' profiles: jid (phone JID when known,
//	                  else the LID JID), unique lid, name and its source, avatar, whether set.
//	portals           WhatsApp chats and their Matrix rooms: name, topic, avatar, encryption.
//	messages          WhatsApp message ID (+ part) <-> Matrix event ID, with sender, time and edits;
//	                  also the dedup check for messages WhatsApp delivers again. Keeps what a reply
//	                  quotes (part 0) and the Matrix content of attachments (for caption edits).
//	message_edits     The Matrix edit events of a message, redacted with it when it is deleted.
//	reactions         Each sender's current reaction to a message and its Matrix annotation event.
//	placeholders      WhatsApp message ID -> the placeholder event shown while it cannot be decrypted;
//	                  deleted when the message arrives and replaces it.
//	appservice_txns   IDs of appservice transactions already accepted from the homeserver.
//	matrix_inbox      Durable queue of Matrix events accepted but not yet handled, in arrival
//	                  order (seq), deduplicated by event ID; pending/done/failed.
//	outbox            Matrix -> WhatsApp sends with the WhatsApp message ID fixed before the first
//	                  attempt, so retries reuse it; pending/sent/failed.
//	database_owner    Written by dbutil: marks the database as this bridge's.
//	whatsmeow_*       whatsmeow's own tables (devices, sessions, keys, app state, contacts, ...).
package database
