package config

// PresenceConfig says which WhatsApp presence the bridge follows.
type PresenceConfig struct {
	// Contacts shows contacts' WhatsApp presence on their ghosts as Matrix presence: "online" while
	// the contact has WhatsApp open, else "offline" with "Last seen ..." as status message. The
	// bridge subscribes to the presence of each contact the user has a direct chat with. Off by
	// default.
	Contacts bool `yaml:"contacts"`
}
