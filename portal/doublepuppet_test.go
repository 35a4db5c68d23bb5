package portal

import (
	"encoding/json"
	"testing"

	"maunium.net/go/mautrix/event"
)

// TestDoublePuppetMarker checks that the marker survives the trip through JSON beside the
// content's own fields, and that events without it are not taken for the bridge's.
func TestDoublePuppetMarker(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		content any
		marked  bool
	}{
		{"message", markDoublePuppeted(&event.MessageEventContent{MsgType: event.MsgText, Body: "hi"}), true},
		{"reaction", markDoublePuppeted(&event.ReactionEventContent{RelatesTo: event.RelatesTo{Type: event.RelAnnotation, EventID: "$x", Key: "👍"}}), true},
		{"plain message", &event.MessageEventContent{MsgType: event.MsgText, Body: "hi"}, false},
		{"marker not true", map[string]any{"body": "hi", "msgtype": "m.text", DoublePuppetMarker: "yes"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.content)
			if err != nil {
				t.Fatal(err)
			}
			var evt event.Event
			if err = json.Unmarshal([]byte(`{"type":"m.room.message","content":`+string(raw)+`}`), &evt); err != nil {
				t.Fatal(err)
			}
			if got := IsDoublePuppeted(&evt); got != tc.marked {
				t.Errorf("IsDoublePuppeted(%s) = %v, want %v", raw, got, tc.marked)
			}
			if tc.name == "message" && evt.Content.Raw["body"] != "hi" {
				t.Errorf("content lost its body: %s", raw)
			}
			if tc.name == "reaction" {
				rel, _ := evt.Content.Raw["m.relates_to"].(map[string]any)
				if rel["key"] != "👍" {
					t.Errorf("reaction lost its relation: %s", raw)
				}
			}
		})
	}
}
