// Package encryption is end-to-bridge encryption: the bridge bot's own device (appservice login
// with a device ID, keys uploaded, optionally cross-signed), mautrix-go's Olm machine with its crypto
// store in the bridge's database, and a state store that remembers which rooms are encrypted and
// who is in them across restarts.
//
// It needs the pure-Go Olm implementation, selected with the goolm build tag; without that tag the
// package is empty and the bridge runs without encryption support.
//
// Data flow: the bridge feeds the bot's /sync answers (to-device events, device list changes,
// one-time key counts) to Helper.ProcessSync, member and encryption state events to HandleState,
// and encrypted room events to Decrypt. Sending is encrypted by the appservice clients themselves:
// the Helper is their mautrix.CryptoHelper, and StateStore tells them which rooms are encrypted.
package encryption
