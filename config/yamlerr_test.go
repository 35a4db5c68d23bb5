package config_test

import (
	"strings"
	"testing"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

// TestTypeErrorsNameTheKey: a value of the wrong type is reported with the option's dotted path,
// its line, what it wants and what it got.
func TestTypeErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key   string
		value any
		want  string
	}{
		{"bridge.history_sync.enabled", "sometimes", `bridge.history_sync.enabled (line `},
		{"bridge.history_sync.enabled", "sometimes", `): want true or false, got "sometimes"`},
		{"bridge.history_sync.max_chats", "many", `bridge.history_sync.max_chats (line `},
		{"bridge.history_sync.max_chats", "many", `): want a whole number, got "many"`},
		{"bridge.history_sync.enabled", []string{"a", "b"}, `bridge.history_sync.enabled (line `},
		{"bridge.history_sync.enabled", []string{"a", "b"}, `want true or false, got a list`},
		{"bridge.history_sync", "off", `bridge.history_sync (line `},
		{"bridge.history_sync", "off", `want a mapping (indented key: value lines), got "off"`},
	} {
		_, err := config.Parse(patch(t, tc.key, tc.value))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v: error %v, want it to contain %q", tc.key, tc.value, err, tc.want)
		}
	}
	// The line is the option's line in the file.
	_, err := config.Parse([]byte("homeserver:\n  address: http://hs\n  domain: example.org\nbridge:\n  history_sync:\n    enabled: sometimes\n"))
	if err == nil || !strings.Contains(err.Error(), `bridge.history_sync.enabled (line 6): want true or false, got "sometimes"`) {
		t.Errorf("error %v, want the option at line 6", err)
	}
}
