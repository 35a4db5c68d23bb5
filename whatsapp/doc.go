// Package whatsapp is the WhatsApp half of the bridge: one Login per WhatsApp account, wrapping a
// whatsmeow client, plus what every login shares (the HTTP transport, which can point whatsmeow at
// a local simulator, and whatsmeow's process-wide settings).
//
// A Login owns its client's whole life: construction (SynchronousAck and the decrypted event
// buffer on, whatsmeow's reconnect loop off), the bridge's own reconnect loop (exponential backoff
// with jitter), pairing as a PairFlow of steps, logout, the connection state, the account's contact
// names and profile pictures. Its event handler is the single switch over whatsmeow's event kinds:
// connection and contact events are handled inside the Login, everything about chats goes to the
// Handler the bridge supplies.
//
// Invariants:
//   - Only events of the Login's current client reach the Handler; a replaced client's are dropped.
//   - A message is acknowledged to WhatsApp only when Handler.HandleMessage returned nil, so a
//     message the bridge could not take (store) is delivered again (the same holds for group
//     changes, joins and receipts). EncodeEvent/DecodeEvent give those events a stable stored form.
//   - The package knows nothing about Matrix, rooms or commands: how steps and alerts are shown is
//     the Handler's and the caller's business.
package whatsapp
