package bridge

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

func historyChat(user string, archived bool, n int, relations ...int) whatsapp.HistoryChat {
	chat := whatsapp.HistoryChat{JID: types.NewJID(user, types.DefaultUserServer), Archived: archived}
	base := time.Unix(1700000000, 0)
	for i := range n {
		msg := &waE2E.Message{Conversation: proto.String(fmt.Sprint(i))}
		if slices.Contains(relations, i) {
			msg = &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{Text: proto.String("👍")}}
		}
		chat.Messages = append(chat.Messages, &events.Message{
			Info:    types.MessageInfo{ID: fmt.Sprintf("M%d", i), Timestamp: base.Add(time.Duration(i) * time.Hour)},
			Message: msg,
		})
	}
	return chat
}

func ids(msgs []*events.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Info.ID)
	}
	return out
}

// TestChooseHistory: archived chats and chats beyond the limit get no portal (counted once each);
// a chat gets its newest messages up to the limit, reactions not counting, over several chunks.
func TestChooseHistory(t *testing.T) {
	r := waRouter{user: &Account{}}
	r.user.history.reset()
	minTime := time.Time{}
	if _, ok := r.chooseHistory(historyChat("1", true, 3), 2, 3, true, minTime); ok {
		t.Error("archived chat chosen")
	}
	msgs, ok := r.chooseHistory(historyChat("2", false, 6, 4), 2, 3, true, minTime)
	if want := []string{"M2", "M3", "M4", "M5"}; !ok || !slices.Equal(ids(msgs), want) {
		t.Errorf("chat 2 got %v, want %v (three messages and the reaction among them)", ids(msgs), want)
	}
	// A later chunk of the same chat: its budget is spent.
	if msgs, ok = r.chooseHistory(historyChat("2", false, 2), 2, 3, true, minTime); !ok || len(msgs) != 0 {
		t.Errorf("chat 2 got %v more after its limit", ids(msgs))
	}
	if _, ok = r.chooseHistory(historyChat("3", false, 1), 2, -1, true, minTime); !ok {
		t.Error("second chat not chosen")
	}
	if _, ok = r.chooseHistory(historyChat("4", false, 1), 2, -1, true, minTime); ok {
		t.Error("chat over the limit chosen")
	}
	_, _ = r.chooseHistory(historyChat("4", false, 1), 2, -1, true, minTime)
	_, _ = r.chooseHistory(historyChat("1", true, 1), 2, -1, true, minTime)
	h := &r.user.history
	if h.archived != 1 || h.overLimit != 1 || len(h.chats) != 2 {
		t.Errorf("archived %d, over limit %d, chosen %d; want 1, 1, 2", h.archived, h.overLimit, len(h.chats))
	}
	// The age limit leaves out older messages.
	msgs, _ = r.chooseHistory(historyChat("3", false, 5), 2, -1, true, time.Unix(1700000000, 0).Add(150*time.Minute))
	if want := []string{"M3", "M4"}; !slices.Equal(ids(msgs), want) {
		t.Errorf("with the age limit chat 3 got %v, want %v", ids(msgs), want)
	}
	// Two messages of chat 2's first chunk and both of its second did not fit; three of chat 3
	// were too old.
	if h.cutByCount != 4 || h.cutByAge != 3 {
		t.Errorf("cut by count %d, by age %d; want 4, 3", h.cutByCount, h.cutByAge)
	}
}

func TestHistoryProgressText(t *testing.T) {
	var h historyProgress
	h.reset()
	for i := range 40 {
		h.chats[types.NewJID(fmt.Sprint(i), types.DefaultUserServer)] = 1
	}
	for i := range 12 {
		h.chatsDone[types.NewJID(fmt.Sprint(i), types.DefaultUserServer)] = true
	}
	h.messages = 3410
	if got, want := h.line(), "Bringing over your history: 12 of 40 chats, 3,410 messages"; got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
	h.archived, h.overLimit = 1, 3
	want := "Your history is here: 12 chats, 3,410 messages. Not brought over: 1 archived chat (`bridge.history_sync.skip_archived`); 3 chats beyond the 50 most recent (`bridge.history_sync.max_chats`)."
	cfg := config.HistorySyncConfig{MaxChats: 50, MaxMessagesPerChat: 4, MaxAgeDays: 30}
	if got := h.summary(cfg); got != want {
		t.Errorf("summary = %q\nwant %q", got, want)
	}
	// Messages cut by the per-chat and the age limits are counted, with the option to change.
	h.archived, h.overLimit, h.cutByCount, h.cutByAge = 0, 0, 6, 1
	want = "Your history is here: 12 chats, 3,410 messages. Not brought over: 6 older messages beyond the 4 most recent of their chat (`bridge.history_sync.max_messages_per_chat`); 1 message older than 30 days (`bridge.history_sync.max_age_days`)."
	if got := h.summary(cfg); got != want {
		t.Errorf("summary = %q\nwant %q", got, want)
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567"} {
		if got := formatCount(n); got != want {
			t.Errorf("formatCount(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestHistoryStatusOnlyWhileRunning(t *testing.T) {
	user := &Account{}
	if got := user.historyStatus(); got != "" {
		t.Errorf("status before any history = %q", got)
	}
	user.history.reset()
	user.history.running = true
	user.history.chats[types.NewJID("1", types.DefaultUserServer)] = 2
	user.history.messages = 2
	if got, want := user.historyStatus(), "Bringing over your history: 0 of 1 chats, 2 messages so far."; got != want {
		t.Errorf("status while running = %q, want %q", got, want)
	}
	user.history.running = false
	if got := user.historyStatus(); got != "" {
		t.Errorf("status after the summary = %q", got)
	}
}
