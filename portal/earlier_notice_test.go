package portal

import (
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// TestEarlierNotice: the notice heading earlier history counts the messages it heads and gives
// one time when they are of one minute.
func TestEarlierNotice(t *testing.T) {
	at := func(min int) *events.Message {
		return &events.Message{Info: types.MessageInfo{Timestamp: time.Date(2024, 3, 1, 10, min, 0, 0, time.UTC)}}
	}
	for _, tc := range []struct {
		msgs []*events.Message
		want string
	}{
		{[]*events.Message{at(0)}, "Earlier messages of this chat from your phone (1 message, at 2024-03-01 10:00 UTC); they were sent before the messages above."},
		{[]*events.Message{at(0), at(0)}, "Earlier messages of this chat from your phone (2 messages, at 2024-03-01 10:00 UTC); they were sent before the messages above."},
		{[]*events.Message{at(0), at(2), at(5)}, "Earlier messages of this chat from your phone (3 messages, 2024-03-01 10:00 to 2024-03-01 10:05 UTC); they were sent before the messages above."},
	} {
		if got := earlierNotice(tc.msgs); got != tc.want {
			t.Errorf("earlierNotice = %q\nwant %q", got, tc.want)
		}
	}
}
