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
//   - WhatsApp JIDs are stored in whatsmeow's string form without device part, except
//     user_logins.wa_jid, which is the bridge's own device JID.
//   - A portal is keyed by (jid, receiver): receiver is the empty string for chats shared by all
//     bridge users (groups, newsletters) and the owning user's JID for private chats; see NewPortalKey.
//   - Messages, reactions and outbox rows belong to a portal (foreign key): the portal row must be
//     stored first, and deleting it deletes them.
//   - Every method takes ctx first and joins a transaction started with DB.DoTxn on that ctx.
//
// Tables:
//
//	users             Matrix users of the bridge: management room, space room, double puppeting
//	                  choice and the default login (its phone digits); wa_jid/phone/push_name
//	                  are left from before v16 and unused.
//	user_logins       Each WhatsApp account a user linked, keyed by (user, phone digits): the
//	                  device JID and the account's push name.
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
//	import_rooms      A portal's linked room for imported chat-export history (when its own room
//	                  already had messages).
//	imported_messages Stable key of each message posted from a chat export -> its Matrix event,
//	                  so that importing the same export again posts nothing.
//	history_chunks    The phone's RECENT/FULL history sync chunks as it sent them, per login, kept
//	                  from their arrival until the last one is in and all are bridged.
//	appservice_txns   IDs of appservice transactions already accepted from the homeserver.
//	matrix_inbox      Durable queue of Matrix events accepted but not yet handled, in arrival
//	                  order (seq), deduplicated by event ID; pending/done/failed.
//	whatsapp_inbox    Durable queue of WhatsApp events (messages, receipts, group changes...) stored
//	                  before WhatsApp's acknowledgement with the login that received them, handled
//	                  per portal in seq order.
//	outbox            Matrix -> WhatsApp sends with the WhatsApp message ID fixed before the first
//	                  attempt, so retries reuse it; pending/sent/failed.
//	database_owner    Written by dbutil: marks the database as this bridge's.
//	whatsmeow_*       whatsmeow's own tables (devices, sessions, keys, app state, contacts, ...).
package database
