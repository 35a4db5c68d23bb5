package config

// PresenceConfig says which WhatsApp presence the bridge follows and announces.
type PresenceConfig struct {
	// Contacts shows contacts' WhatsApp presence on their ghosts as Matrix presence: "online" while
	// the contact has WhatsApp open, else "offline" with "Last seen ..." as status message. The
	// bridge subscribes to the presence of each contact the user has a direct chat with. Off by
	// default.
	Contacts bool `yaml:"contacts"`
	// Own says when the bridge announces the user as available ("online") on WhatsApp. After every
	// connect, and when the user's push name changes, the bridge announces the user's push name,
	// which contacts need to see the name on the user's messages. Then:
	//   - OwnActive (default): available while the user is active in Matrix (sends, types or reads
	//     in a chat, or the homeserver reports them online), unavailable once IdleSeconds passed
	//     without activity or the homeserver reports them offline;
	//   - OwnAlways: available whenever the bridge is connected;
	//   - OwnNever: never available (the user stays "offline" for contacts).
	// WhatsApp exchanges typing notifications only with available clients, and the phone apps show
	// a message as delivered (two grey ticks) only from an available client.
	Own string `yaml:"own"`
	// IdleSeconds is how long after the user's last activity in Matrix the bridge announces them
	// unavailable again under OwnActive. Between 10 and 86400; 0 or absent means 120.
	IdleSeconds int `yaml:"idle_seconds"`
}

// The values of bridge.presence.own.
const (
	OwnActive = "active"
	OwnAlways = "always"
	OwnNever  = "never"
)

func (pc *PresenceConfig) applyDefaults() {
	setDefault(&pc.Own, OwnActive)
	if pc.IdleSeconds == 0 {
		pc.IdleSeconds = 120
	}
}

func (pc *PresenceConfig) validate(bad func(key, format string, args ...any)) {
	switch pc.Own {
	case OwnActive, OwnAlways, OwnNever:
	default:
		bad("bridge.presence.own", "must be active, always or never, got %q", pc.Own)
	}
	if pc.IdleSeconds < 10 || pc.IdleSeconds > 86400 {
		bad("bridge.presence.idle_seconds", "must be between 10 and 86400, got %d", pc.IdleSeconds)
	}
}
