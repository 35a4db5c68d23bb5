package msgconv

import (
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
)

func TestDisappearingTimers(t *testing.T) {
	t.Parallel()
	parse := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"off", 0, false}, {"24H", 24 * time.Hour, false}, {" 7d", 7 * 24 * time.Hour, false}, {"90d", 90 * 24 * time.Hour, false},
		{"1d", 24 * time.Hour, false}, {"1440m", 24 * time.Hour, false}, {"1W", 7 * 24 * time.Hour, false},
		{"5m", 0, true}, {"", 0, true}, {"forever", 0, true}, {"2d", 0, true}, {"0d", 0, true}, {"-1d", 0, true},
		{"d", 0, true}, {"99999999999999999999d", 0, true}, {"90", 0, true},
	}
	for _, tt := range parse {
		got, err := ParseDisappearingTimer(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseDisappearingTimer(%q) = %v, %v", tt.in, got, err)
		}
	}
	describe := map[time.Duration]string{
		24 * time.Hour: "24 hours", 7 * 24 * time.Hour: "7 days", 90 * 24 * time.Hour: "90 days",
		time.Hour: "1 hour", 90 * time.Second: "90 seconds", 5 * time.Minute: "5 minutes",
	}
	for d, want := range describe {
		if got := DescribeDisappearingTimer(d); got != want {
			t.Errorf("DescribeDisappearingTimer(%v) = %q, want %q", d, got, want)
		}
	}
	if got := DisappearingNotice(7 * 24 * time.Hour); got != "Disappearing messages are on: new messages disappear from WhatsApp 7 days after they are sent." {
		t.Errorf("notice %q", got)
	}
	if got := DisappearingNotice(0); got != "Disappearing messages are off: new messages no longer disappear." {
		t.Errorf("notice %q", got)
	}
}

func TestWithExpiration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		msg     *waE2E.Message
		timer   time.Duration
		context func(*waE2E.Message) *waE2E.ContextInfo
		want    uint32
	}{
		{"plain text", &waE2E.Message{Conversation: proto.String("hi")}, time.Hour,
			func(m *waE2E.Message) *waE2E.ContextInfo { return m.GetExtendedTextMessage().GetContextInfo() }, 3600},
		{"reply keeps its quote", &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("yes"),
			ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String("Q")}}}, 24 * time.Hour,
			func(m *waE2E.Message) *waE2E.ContextInfo { return m.GetExtendedTextMessage().GetContextInfo() }, 86400},
		{"image", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("c")}}, 7 * 24 * time.Hour,
			func(m *waE2E.Message) *waE2E.ContextInfo { return m.GetImageMessage().GetContextInfo() }, 604800},
		{"poll with message secret", &waE2E.Message{PollCreationMessage: &waE2E.PollCreationMessage{Name: proto.String("q")},
			MessageContextInfo: &waE2E.MessageContextInfo{MessageSecret: []byte{1}}}, time.Hour,
			func(m *waE2E.Message) *waE2E.ContextInfo { return m.GetPollCreationMessage().GetContextInfo() }, 3600},
		{"off", &waE2E.Message{Conversation: proto.String("hi")}, 0,
			func(m *waE2E.Message) *waE2E.ContextInfo { return m.GetExtendedTextMessage().GetContextInfo() }, 0},
	}
	for _, tt := range tests {
		orig := proto.CloneOf(tt.msg)
		got := WithExpiration(tt.msg, tt.timer)
		if exp := tt.context(got).GetExpiration(); exp != tt.want {
			t.Errorf("%s: expiration %d, want %d (%v)", tt.name, exp, tt.want, got)
		}
		if !proto.Equal(orig, tt.msg) {
			t.Errorf("%s: the argument was modified", tt.name)
		}
	}
	quoted := WithExpiration(&waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("yes"),
		ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String("Q")}}}, time.Hour)
	if quoted.GetExtendedTextMessage().GetContextInfo().GetStanzaID() != "Q" {
		t.Error("the quote was lost")
	}
}

func TestExpirationOf(t *testing.T) {
	t.Parallel()
	for _, msg := range []*waE2E.Message{
		{Conversation: proto.String("hi")},
		{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("photo")}},
		{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("hi")}},
	} {
		if got := ExpirationOf(msg); got != 0 {
			t.Errorf("ExpirationOf(%v) = %s before WithExpiration, want 0", msg, got)
		}
		if got := ExpirationOf(WithExpiration(msg, 7*24*time.Hour)); got != 7*24*time.Hour {
			t.Errorf("ExpirationOf(WithExpiration(%v, 7d)) = %s", msg, got)
		}
	}
	if ExpirationOf(nil) != 0 {
		t.Error("ExpirationOf(nil) != 0")
	}
}
