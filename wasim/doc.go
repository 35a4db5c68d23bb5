// Package wasim is a WhatsApp multi-device wire simulator: a local server that the unmodified
// whatsmeow client connects to, pairs with and exchanges end-to-end encrypted messages through.
//
// The server speaks WhatsApp's transport (websocket, Noise XX handshake with a certificate chain
// from a simulator-generated root, binary XML nodes encoded with whatsmeow's own binary package)
// and relays ciphertext only. Simulated users are real whatsmeow clients run by the server: each
// Account has a primary phone (device 0) provisioned directly into a whatsmeow store, and
// CreateContact returns that phone as a Contact that sends with whatsmeow's SendMessage and
// records what it receives. Companions (the bridge, tests) pair to an account by QR (ScanQR) or
// by pairing code (EnterPairingCode).
//
// # State and faults
//
// Accounts, devices, prekeys and per-device offline queues live in memory for the Server's life.
// Restart only replaces the listener and connections, so queued messages survive it. A stanza
// stays queued until the device acknowledges it (receipt or ack) and is redelivered byte-identical
// on the next login, which whatsmeow turns into exactly-once events. DropConnections, SetOutage
// and Outage simulate network trouble.
//
// # Groups
//
// Groups (<id>@g.us, LID addressing) live in memory like accounts. whatsmeow's own group calls
// (CreateGroup, GetGroupInfo, GetJoinedGroups, SetGroupName, SetGroupTopic,
// UpdateGroupParticipants, LeaveGroup) work through w:g2 IQs, and Server.CreateGroup,
// SetGroupName, SetGroupTopic and UpdateGroupParticipants do the same from Go. Every change is
// pushed as a w:gp2 notification to every member device, the acting one included, so clients
// get events.JoinedGroup and events.GroupInfo. Group messages are fanned out by the server's
// member list to every member device but the sending one; receipts, typing and retry resends
// are routed back as whatsmeow expects.
//
// # Media
//
// The media_conn IQ (xmlns w:m) names MediaHost (mmg.whatsapp.net) as the only host; clients reach
// it through the HTTP client the simulator configured. whatsmeow's Upload posts the encrypted
// file to /mms/<type>/<token> (image, video, audio, document, sticker-pack, ... ; stickers go up
// as image), the server checks the auth token and that token is the SHA-256 of the body, keeps the
// opaque blob in memory (it survives Restart) and answers url and direct_path as WhatsApp does.
// Download, DownloadMediaWithPath and a plain GET of the url serve the exact bytes; unknown paths
// get 404, ExpireMedia makes a blob answer 410, DeleteMedia removes it, and an outage gives 503.
// A companion's media retry request (SendMediaRetryReceipt) for expired media is answered as the
// phone would: if the account's phone received the message (it waits a few seconds for a copy the
// request overtook), the blob is republished under a new direct path in an encrypted mediaretry
// notification (result NOT_FOUND when the blob was deleted), otherwise with "not available on
// phone"; the answer is queued for the asking device, so a companion that reconnected gets it.
// A member sets or removes a group's picture with whatsmeow's SetGroupPhoto: only JPEG is taken
// (406), only admins may once the group's info is locked (401), outsiders never (403).
// UploadMedia and Contact.SendMedia build and send attachments, Attachment and Contact.Download
// fetch them; MessageKind and MessageBody classify what arrived.
//
// # Refusals
//
// Some refusals of real WhatsApp can be switched on per account or server: SetRequirePrivacyToken
// makes an account refuse first direct messages with ack error 463 unless they carry a privacy
// token it issued (IssuePrivacyToken, or whatsmeow's own token IQ after a message; see
// privacytoken.go); SetGroupQueryLimit answers group queries past a limit with 429
// rate-overlimit (ratelimit.go); SetRequirePasskey puts the account's pairings through the passkey
// step, which the account's passkey (AssertPasskey) answers (passkey.go). A usync contact query for
// a number without an account answers <contact type="out">, which whatsmeow's IsOnWhatsApp reports
// as not on WhatsApp.
//
// # Undecryptable messages and calls
//
// Account.BreakNextMessage makes the next message from a sender reach the account's companions
// (and optionally its phone) without ciphertext (<unavailable/>) or with corrupted ciphertext,
// and can drop the retry receipts for it as for a sender whose phone stays offline. The phone
// answers its companions' placeholder resend requests (whatsmeow BuildUnavailableMessageRequest)
// with the original message when it has it, and records a ResendAnswer in its EventLog;
// Contact.SetOnline takes a phone offline and back; what was sent to it meanwhile waits in its
// queue, and a phone that lost its Signal session with a sender (delete it from the contact's
// whatsmeow store) sends that sender a retry receipt when it comes back, which the sender answers
// with a fresh pkmsg. Account.Unacknowledged lists the messages a device has not acknowledged yet
// (not received, or received and still in the client's handler). Contact.Call, CallGroup, EndCall and EndGroupCall
// signal calls (<offer>, <offer_notice type="group">, <terminate>); no media flows.
//
// # The phone's peer channel and app state
//
// Right after a companion links, the account's phone sends it its app state key
// (APP_STATE_SYNC_KEY_SHARE) as an encrypted category="peer" message from device 0, building its
// Signal session from the companion's prekey bundle (Account.SendPeer, reusable for other peer
// messages). The server keeps each account's app state: the encrypted patches per collection
// (critical_block, critical_unblock_low, regular_high, regular_low, regular), numbered as it
// accepts them (a write against an old version gets 409 with the missing patches), served after a
// version or as a snapshot (an encrypted md-app-state blob) through the w:sync:app:state IQ, with
// <notification type="server_sync"> to the account's other devices on every change. The phone
// writes its push name on first use and, through whatsmeow's own encoder (SendAppState),
// Account.SaveContact (address book names), SetPushName and SetChatSettings (mute, pin, archive,
// unread); whatsmeow companions get events.Contact, PushNameSetting, Mute, Pin, Archive and
// MarkChatAsRead.
//
// # Status updates
//
// Contact.PostStatus and PostStatusMedia post a status update the way a phone does: a message to
// status@broadcast sent by whatsmeow, encrypted with the poster's sender key and fanned out by the
// server to exactly the devices the sender listed (the viewers it saved in its address book), with
// the poster as "participant" (see status.go).
//
// # Chat history
//
// Each phone keeps a chat history: messages seeded with Account.AddHistory (any content: text,
// replies, reactions, edits, revocations, media from Account.HistoryMedia) or SeedHistory (N chats
// x M messages over a time span), chat metadata from SetHistoryChat, and every message its client
// received. After the app state key share, the phone sends a new companion that history as history
// sync chunks (PUSH_NAME, INITIAL_BOOTSTRAP, RECENT, FULL; SetHistorySyncOptions shapes them): each
// a zlib-compressed waHistorySync.HistorySync uploaded as md-msg-hist media and announced by a
// HistorySyncNotification peer message, which whatsmeow downloads into events.HistorySync. Reactions
// are stored on their target, revoked messages become stubs, as phones store them. An on-demand
// request (whatsmeow BuildHistorySyncRequest) is answered with an ON_DEMAND chunk of the messages
// before the given one.
//
// # Hidden phone numbers
//
// Account.SetPhoneNumberHidden makes an account appear to others by its LID only, as username
// contacts and non-contacts in large groups do on real WhatsApp: direct messages come from its LID
// without sender_pn, group messages without participant_pn, group info and notifications without
// phone_number, creator_pn, s_o_pn or participant_pn. Account.RevealPhoneNumber later lets one
// account see the number, and that account's phone sends its companions the mapping as a
// LID_MIGRATION_MAPPING_SYNC peer message (whatsmeow stores it in Store.LIDs).
//
// Server.CreatePNGroup makes an older group addressed by phone number (addressing_mode="pn":
// members by phone JID, with participant_lid on messages and lid in participant lists), and
// MigrateGroupToLID moves it to LID addressing as WhatsApp does, without telling the members.
//
// # Presence
//
// Devices announce themselves available or unavailable (whatsmeow SendPresence; Contact.SetAvailable
// for simulated phones); a subscription (whatsmeow SubscribePresence) is answered at once and on
// every change with the account's presence and last-seen time, for as long as the subscribing
// connection lasts. A device that disconnects is unavailable.
//
// Presence is strict by default, as on WhatsApp: a device's messages carry its push name (notify)
// only after it announced one with its presence on its current connection, and typing (chatstate)
// passes only from a device that announced itself available to devices that did. Simulated phones
// announce their account's name (as unavailable) whenever they connect. Options.LenientPresence
// restores the simulator's earlier rules (typing between any online devices, the account's name on
// every message) for tests about something else.
//
// # Business names
//
// Account.SetBusinessName makes an account a WhatsApp Business account with a verified name (a
// VerifiedNameCertificate), or renames it: its messages carry <verified_name> and usync answers
// a <business> part, from which whatsmeow companions store the name and emit events.BusinessName
// on a change.
//
// # Control API
//
// ControlHandler is an HTTP/JSON API over the same Go calls, for other processes (the demo,
// manual tests). The simulator serves it on its own port under ControlPrefix (/_wasim/), and
// cmd/wasim can serve it on a separate address too (-control-addr). Bodies and answers are JSON;
// failures are {"error": "..."} with 400 (malformed JSON, unknown or missing fields, invalid
// phone), 404 (unknown account, device or endpoint), 409 (account exists, nobody waiting for a
// pairing code), 503 (server closed) or 500. The routes are listed on ControlHandler; for example
//
//	curl -d '{"phone":"+49 151 0000001","push_name":"Alice"}' http://ADDR/_wasim/accounts
//	curl -d '{"phone":"491510000001","qr":"2@..."}' http://ADDR/_wasim/qr/scan
//	curl -d '{"from":"491510000002","to":"491510000001","text":"hi"}' http://ADDR/_wasim/messages
//	curl 'http://ADDR/_wasim/messages?phone=491510000002'
//	curl -d '{"seconds":5}' http://ADDR/_wasim/faults/outage
//
// # Root key
//
// whatsmeow verifies the server certificate against its package variable whatsmeow.WACertPubKey.
// Inside one process all servers therefore share one root key: the per-process default
// (DefaultRootPublicKey), which Server.ConfigureClient and Server.NewClient install once.
// Options.RootKey sets a fixed root for a server whose clients live in another process.
//
// # Configuring an external client (e.g. the bridge in another process)
//
//   - Set whatsmeow.WACertPubKey to the simulator's root public key (Server.RootPublicKeyHex,
//     printed by cmd/wasim) before connecting.
//   - Route whatsmeow's websocket, pre-login and media HTTP clients (SetWebsocketHTTPClient,
//     SetPreLoginHTTPClient, SetMediaHTTPClient; all three) to Server.Addr ("127.0.0.1:port").
//     Either rewrite every request URL to http://Addr (plain HTTP), or keep the URLs and use an
//     http.Transport whose DialContext dials Addr and whose TLS RootCAs hold Server.CAPEM (the
//     certificate covers web.whatsapp.com and *.whatsapp.net). One port serves both; HTTP/2 must
//     stay off.
//   - Do not fetch the latest WhatsApp Web version (whatsmeow.GetLatestVersion): there is no
//     internet, and the simulator accepts any version.
//   - Set Store.PushName before SendPresence, as with real WhatsApp.
package wasim
