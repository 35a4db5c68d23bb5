package bridge

import (
	"encoding/json"
	"slices"
	"testing"

	"maunium.net/go/mautrix/event"
)

func TestSalvageContent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		evtType event.Type
		content string
		body    string // "" when nothing can be salvaged
		dropped []string
		reason  string // the reason given to the sender, in JSON's words (no Go type names)
	}{
		{name: "relation that is a list", evtType: event.EventMessage,
			content: `{"msgtype":"m.text","body":"hello","m.relates_to":[{"rel_type":"m.thread"}]}`,
			body:    "hello", dropped: []string{"m.relates_to"}, reason: "`m.relates_to` should be an object, not a list"},
		{name: "mentions that are a string", evtType: event.EventMessage,
			content: `{"msgtype":"m.text","body":"hi","m.mentions":"everyone","format":"org.matrix.custom.html","formatted_body":"<b>hi</b>"}`,
			body:    "hi", dropped: []string{"m.mentions"}, reason: "`m.mentions` should be an object, not a string"},
		{name: "two broken fields", evtType: event.EventMessage,
			content: `{"msgtype":"m.text","body":"two","m.relates_to":7,"info":"big"}`,
			body:    "two", dropped: []string{"info", "m.relates_to"}},
		{name: "body that is a number", evtType: event.EventMessage,
			content: `{"msgtype":"m.text","body":42}`, reason: "`body` should be a string, not a number"},
		{name: "reaction with a list relation", evtType: event.EventReaction,
			content: `{"m.relates_to":["x"]}`, reason: "`m.relates_to` should be an object, not a list"},
		{name: "msgtype that is true", evtType: event.EventMessage,
			content: `{"msgtype":true,"body":"b"}`, reason: "`msgtype` should be a string, not true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var raw map[string]any
			if err := json.Unmarshal([]byte(tt.content), &raw); err != nil {
				t.Fatal(err)
			}
			original := event.Content{VeryRaw: json.RawMessage(tt.content)}
			parseErr := original.ParseRaw(tt.evtType)
			if parseErr == nil {
				t.Fatal("the content parses; the case tests nothing")
			}
			if tt.reason != "" && parseReason(parseErr) != tt.reason {
				t.Errorf("reason %q, want %q", parseReason(parseErr), tt.reason)
			}
			content, dropped := salvageContent(tt.evtType, raw)
			if tt.body == "" {
				if content != nil {
					t.Fatalf("salvaged %s, want nothing", content.VeryRaw)
				}
				return
			}
			if content == nil {
				t.Fatal("nothing salvaged")
			}
			if got := content.AsMessage().Body; got != tt.body {
				t.Errorf("body %q, want %q", got, tt.body)
			}
			if !slices.Equal(dropped, tt.dropped) {
				t.Errorf("dropped %v, want %v", dropped, tt.dropped)
			}
		})
	}
}
