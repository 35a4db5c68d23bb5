package config

// HistorySyncConfig says how much of the chat history the phone sends after a link is bridged
// (bridge.history_sync). Counts of 0 (or absent) take the default, -1 means no limit.
type HistorySyncConfig struct {
	// Enabled backfills history at all; nil means on.
	Enabled *bool `yaml:"enabled"`
	// MaxChats is how many chats get portals from history, most recently active first (default 50).
	MaxChats int `yaml:"max_chats"`
	// MaxMessagesPerChat is how many of each chat's newest messages are bridged (default 100).
	MaxMessagesPerChat int `yaml:"max_messages_per_chat"`
	// MaxAgeDays leaves out messages older than this many days (default: no limit).
	MaxAgeDays int `yaml:"max_age_days"`
	// SkipArchived gives chats in the phone's archive no portal from history; nil means on.
	SkipArchived *bool `yaml:"skip_archived"`
	// Media bridges the attachments of history messages; nil means on. Off: a notice per file.
	Media *bool `yaml:"media"`
	// MaxMediaPerChat is how many attachments per chat are bridged before the rest become notices
	// (default 20).
	MaxMediaPerChat int `yaml:"max_media_per_chat"`
}

// Defaults of bridge.history_sync.
const (
	DefaultHistoryMaxChats           = 50
	DefaultHistoryMaxMessagesPerChat = 100
	DefaultHistoryMaxMediaPerChat    = 20
)

// IsEnabled reports whether history is backfilled (default true).
func (c HistorySyncConfig) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }

// SkipsArchived reports whether archived chats are left out (default true).
func (c HistorySyncConfig) SkipsArchived() bool { return c.SkipArchived == nil || *c.SkipArchived }

// MediaEnabled reports whether attachments are bridged (default true).
func (c HistorySyncConfig) MediaEnabled() bool { return c.Media == nil || *c.Media }

// ChatLimit is the number of chats to backfill; -1 means no limit.
func (c HistorySyncConfig) ChatLimit() int { return limitOr(c.MaxChats, DefaultHistoryMaxChats) }

// MessageLimit is the number of messages per chat to backfill; -1 means no limit.
func (c HistorySyncConfig) MessageLimit() int {
	return limitOr(c.MaxMessagesPerChat, DefaultHistoryMaxMessagesPerChat)
}

// MediaLimit is the number of attachments per chat to bridge; -1 means no limit.
func (c HistorySyncConfig) MediaLimit() int {
	return limitOr(c.MaxMediaPerChat, DefaultHistoryMaxMediaPerChat)
}

func limitOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// validate reports bad history sync options through bad, like Config.Validate.
func (c HistorySyncConfig) validate(bad func(key, format string, args ...any)) {
	for key, v := range map[string]int{
		"bridge.history_sync.max_chats": c.MaxChats, "bridge.history_sync.max_messages_per_chat": c.MaxMessagesPerChat,
		"bridge.history_sync.max_media_per_chat": c.MaxMediaPerChat,
	} {
		if v < -1 {
			bad(key, "must be -1 (no limit), 0 (the default) or a positive count, got %d", v)
		}
	}
	if c.MaxAgeDays < 0 {
		bad("bridge.history_sync.max_age_days", "must be 0 (no limit) or a number of days, got %d", c.MaxAgeDays)
	}
}
