package config

import "unicode/utf8"

// maxCallAutoReply is the longest bridge.calls.auto_reply, in characters (WhatsApp's own limit on a
// text message is far higher; a call answer longer than this is a mistake).
const maxCallAutoReply = 1000

// CallConfig says what the bridge does with WhatsApp calls, which it cannot carry (no audio or
// video): announce them in the chat's room, and optionally answer the caller with a text.
type CallConfig struct {
	// Notices posts "Incoming call" and "Missed call" notices in the DM or group room; nil means on.
	Notices *bool `yaml:"notices"`
	// AutoReply, when not empty, is sent on WhatsApp to everyone who calls the user 1:1.
	AutoReply string `yaml:"auto_reply"`
}

// NoticesEnabled reports whether calls are announced in rooms (bridge.calls.notices, default true).
func (c CallConfig) NoticesEnabled() bool {
	return c.Notices == nil || *c.Notices
}

// validate reports bad call options through bad, like Config.Validate.
func (c CallConfig) validate(bad func(key, format string, args ...any)) {
	if n := utf8.RuneCountInString(c.AutoReply); n > maxCallAutoReply {
		bad("bridge.calls.auto_reply", "must be at most %d characters, got %d", maxCallAutoReply, n)
	}
}
