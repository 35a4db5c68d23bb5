package portal

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
)

// syncBuffer is a log sink for several goroutines.
type syncBuffer struct {
	lock sync.Mutex
	buf  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.lock.Lock()
	defer b.lock.Unlock()
	return b.buf.Write(p)
}

// line returns the first logged line containing msg.
func (b *syncBuffer) line(msg string) string {
	b.lock.Lock()
	defer b.lock.Unlock()
	for _, line := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(line, msg) {
			return line
		}
	}
	return ""
}

// TestHandlerLogger: a handler logs with the caller's fields and the portal's, and the watchdog
// warns about a slow handler with the same fields while the handler is still busy after creating
// the room (under -race this catches the watchdog reading what room creation writes).
func TestHandlerLogger(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.m.slowHandler = 25 * time.Millisecond
	// The room is created first, then the handler takes long: the watchdog fires after the room
	// ID was stored.
	e.mx.slow["MarkDirect"] = 150 * time.Millisecond
	var logs syncBuffer
	ctx := zerolog.New(&logs).With().Str("user_mxid", testUser.String()).Logger().WithContext(e.ctx)
	if err := e.m.HandleWhatsAppMessage(ctx, e.login, waText(testContact, testContact, "M1", "hello")); err != nil {
		t.Fatal(err)
	}
	checks := map[string][]string{
		"Portal handler is taking long": {`"user_mxid":"@alice:example.org"`, `"portal_jid":"15550001111@s.whatsapp.net"`, `"handler":"whatsapp message"`},
		"Bridged WhatsApp message":      {`"user_mxid":"@alice:example.org"`, `"portal_jid":"15550001111@s.whatsapp.net"`, `"wa_message_id":"M1"`},
	}
	for msg, fields := range checks {
		line := logs.line(msg)
		for _, field := range fields {
			if !strings.Contains(line, field) {
				t.Errorf("log line %q lacks %s", line, field)
			}
		}
	}
	// The next handler knows the room.
	if err := e.m.HandleWhatsAppMessage(ctx, e.login, waText(testContact, testContact, "M2", "again")); err != nil {
		t.Fatal(err)
	}
	if line := logs.line(`"wa_message_id":"M2"`); !strings.Contains(line, `"portal_mxid":"!room`) {
		t.Errorf("log line %q lacks the room", line)
	}
}

// TestReceiptsBesideHandlers: receipts and typing do not wait for the portal goroutine and do not
// touch the portal's row. A group change is held right after the portal stored the new name (with
// no synchronisation in between) while a receipt and a typing notification go through; under
// -race this catches them reading the row.
func TestReceiptsBesideHandlers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := groupPortal(t, e)
	if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, waText(testGroup, testContact, "G0", "hi")); err != nil {
		t.Fatal(err)
	}
	reached, release := make(chan struct{}), make(chan struct{})
	e.mx.before = func(c matrixCall) {
		if c.evtType == event.StateTopic {
			close(reached)
			<-release
		}
	}
	change := &events.GroupInfo{JID: testGroup, Name: &types.GroupName{Name: "New name"}, Topic: &types.GroupTopic{Topic: "New topic"}, Timestamp: time.Now()}
	changed := make(chan error, 1)
	go func() { changed <- e.m.HandleGroupInfo(e.ctx, e.login, change) }()
	// Waiting on reached would order the name's write before everything below, hiding a read of
	// it from the race detector: give the portal time to get there instead.
	time.Sleep(100 * time.Millisecond)
	source := types.MessageSource{Chat: testGroup, Sender: testContact, IsGroup: true}
	receipt := &events.Receipt{MessageSource: source, MessageIDs: []types.MessageID{"G0"}, Type: types.ReceiptTypeRead, Timestamp: time.Now()}
	if err := e.m.HandleWhatsAppReceipt(e.ctx, e.login, receipt); err != nil {
		t.Errorf("receipt: %v", err)
	}
	if err := e.m.HandleWhatsAppChatPresence(e.ctx, e.login, &events.ChatPresence{MessageSource: source, State: types.ChatPresenceComposing}); err != nil {
		t.Errorf("typing: %v", err)
	}
	<-reached
	close(release)
	if err := <-changed; err != nil {
		t.Fatalf("group change: %v", err)
	}
	reads, typing := e.mx.callsOf("MarkRead"), e.mx.callsOf("SetTyping")
	if len(reads) != 1 || len(typing) != 1 {
		t.Fatalf("%d read receipts and %d typing notifications, want 1 each", len(reads), len(typing))
	}
	if reads[0].user != e.ghost(testContact) || reads[0].room != p.MXID() || typing[0].content != true {
		t.Errorf("read receipt sent as %s in %s, typing %v", reads[0].user, reads[0].room, typing[0].content)
	}
}
