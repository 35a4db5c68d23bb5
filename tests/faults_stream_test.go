package tests

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// faultChat is one bridged chat of the fault suite: a DM or a group with one WhatsApp contact who
// writes into it from the phone and reads what the Matrix user writes.
type faultChat struct {
	name    string // "c07", part of every message text
	user    *loggedInUser
	room    id.RoomID
	contact *wasim.Contact
	ghost   id.UserID
	to      types.JID // where the contact writes: the bridge user's JID (DM) or the group
	group   bool
	// sentIDs maps the text of each WhatsApp message the contact sent to its message ID, so that
	// a message that never arrived can be traced in the bridge's log.
	sentIDs sync.Map
	// view follows the Matrix user's /sync from before the first scenario: the room as a client
	// shows it live (the suite judges by a fresh read of the room and reports what this missed).
	view *e2e.Watcher
}

// Directions of a numbered message, as they appear in its text.
const (
	dirWA     = "w" // written on WhatsApp, read in Matrix
	dirMatrix = "m" // written in Matrix, read on WhatsApp
)

// faultText is the text of message seq of a phase in a chat, e.g. "b c07 w 0012".
func faultText(phase, chat, dir string, seq int) string {
	return fmt.Sprintf("%s %s %s %04d", phase, chat, dir, seq)
}

// parseFaultText returns the number of a message of the given phase, chat and direction, or false.
func parseFaultText(text, phase, chat, dir string) (int, bool) {
	prefix := phase + " " + chat + " " + dir + " "
	if !strings.HasPrefix(text, prefix) {
		return 0, false
	}
	seq, err := strconv.Atoi(text[len(prefix):])
	return seq, err == nil
}

// streamStats counts the outcome of one direction of one phase over all chats.
type streamStats struct {
	sent, delivered, duplicated, lost, outOfOrder int
	// hsDuplicated and hsLost count Matrix messages the homeserver stored twice or never (see
	// judgeAgainst); they are the homeserver's, not the bridge's.
	hsDuplicated, hsLost int
	// liveMissed counts WhatsApp messages in the room (as a fresh /sync shows it) that the Matrix
	// user's live /sync never delivered: Dendrite's incremental sync can miss events stored just
	// before it stopped. A client shows them after a reload; they count as delivered, and the
	// figure is the homeserver's.
	liveMissed int
}

func (s *streamStats) add(o streamStats) {
	s.sent += o.sent
	s.delivered += o.delivered
	s.duplicated += o.duplicated
	s.lost += o.lost
	s.outOfOrder += o.outOfOrder
	s.hsDuplicated += o.hsDuplicated
	s.hsLost += o.hsLost
	s.liveMissed += o.liveMissed
}

func (s streamStats) clean() bool { return s.lost == 0 && s.duplicated == 0 && s.outOfOrder == 0 }

// judgeAgainst compares the numbers that arrived, in arrival order, with the n that were sent
// (1..n), for messages the bridge got from a homeserver that held stored[seq] events for number seq
// (nil: one each, as for messages from WhatsApp). Only what the bridge got counts against it: a number the
// homeserver stored twice (a client's retry across a homeserver restart makes a new event) may
// arrive twice, one it never stored is not lost by the bridge; both are counted apart.
func judgeAgainst(n int, stored map[int]int, arrived []int) streamStats {
	st := streamStats{sent: n}
	seen := make(map[int]int, n)
	highest := 0
	allowed := func(seq int) int {
		if stored == nil {
			return 1
		}
		return stored[seq]
	}
	for seq := 1; seq <= n; seq++ {
		if k := allowed(seq); k > 1 {
			st.hsDuplicated += k - 1
		}
	}
	for _, seq := range arrived {
		seen[seq]++
		if seen[seq] > max(1, allowed(seq)) {
			st.duplicated++
			continue
		}
		if seen[seq] > 1 {
			continue
		}
		if seq < highest {
			st.outOfOrder++
		}
		highest = max(highest, seq)
	}
	for seq := 1; seq <= n; seq++ {
		switch {
		case seen[seq] > 0:
			st.delivered++ // arrived, so it was stored, whether or not the room showed it
		case allowed(seq) > 0:
			st.lost++
		default:
			st.hsLost++
		}
	}
	return st
}

// streamer sends the numbered messages of one phase in every chat, both ways, one sender per chat
// and direction, each waiting pace between messages. A send that fails is retried until it is
// accepted (the same Matrix transaction ID each time, as a client does), so a fault delays
// messages but never skips one.
type streamer struct {
	phase    string
	perChat  int
	pace     time.Duration
	wg       sync.WaitGroup
	retries  atomic.Int64
	finished atomic.Int64
}

func (s *streamer) start(ctx context.Context, chats []*faultChat) {
	for _, c := range chats {
		s.wg.Add(2)
		go s.sendMatrix(ctx, c)
		go s.sendWhatsApp(ctx, c)
	}
}

// wait blocks until every sender sent everything (or ctx ended).
func (s *streamer) wait() { s.wg.Wait() }

func (s *streamer) sendMatrix(ctx context.Context, c *faultChat) {
	defer s.wg.Done()
	for seq := 1; seq <= s.perChat && ctx.Err() == nil; seq++ {
		text := faultText(s.phase, c.name, dirMatrix, seq)
		content := &event.MessageEventContent{MsgType: event.MsgText, Body: text}
		txnID := "fault-" + strings.ReplaceAll(text, " ", "-")
		for ctx.Err() == nil {
			_, err := c.user.client.SendMessageEvent(ctx, c.room, event.EventMessage, content, mautrix.ReqSendEvent{TransactionID: txnID})
			if err == nil {
				break
			}
			s.retries.Add(1)
			pause(ctx, 500*time.Millisecond)
		}
		pause(ctx, s.pace)
	}
	s.finished.Add(1)
}

func (s *streamer) sendWhatsApp(ctx context.Context, c *faultChat) {
	defer s.wg.Done()
	for seq := 1; seq <= s.perChat && ctx.Err() == nil; seq++ {
		text := faultText(s.phase, c.name, dirWA, seq)
		// One message ID for every attempt, as WhatsApp's apps resend: a send that reached the
		// server although it failed here is then a repeat the receiver recognises.
		msgID := c.contact.Client().GenerateMessageID()
		c.sentIDs.Store(text, msgID)
		msg := &waE2E.Message{Conversation: proto.String(text)}
		for ctx.Err() == nil {
			// A phone keeps what its user wrote while it is offline and encrypts it once it can
			// send. Sending anyway would cost a Signal message counter per attempt (whatsmeow
			// encrypts before it finds the connection gone): a 30-minute outage burned about
			// 3,600 of them per chat, past the 2,000 skipped message keys libsignal keeps, and
			// the receiver could not decrypt the contact's next messages at all.
			if err := c.contact.WaitConnected(ctx); err != nil {
				break
			}
			if err := c.contact.SendWithID(ctx, c.to, msg, msgID); err == nil {
				break
			}
			s.retries.Add(1)
			pause(ctx, 500*time.Millisecond)
		}
		pause(ctx, s.pace)
	}
	s.finished.Add(1)
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// arrivedInMatrix returns the numbers of the phase's WhatsApp messages in timeline (the chat's
// room, oldest first), in timeline order, and how many events of each of the phase's Matrix
// messages the room holds from the chat's Matrix user (what the homeserver stored, for the other
// direction). A message first shown as a placeholder (the bridge could not decrypt it yet) counts
// at the placeholder's place once an edit replaced it with the message; a placeholder never
// replaced counts as not arrived.
func arrivedInMatrix(c *faultChat, phase string, timeline []*event.Event) (arrived []int, stored map[int]int) {
	stored = make(map[int]int)
	for _, evt := range timeline {
		if evt.Type == event.EventMessage && evt.Sender == c.user.client.UserID {
			if seq, ok := parseFaultText(evt.Content.AsMessage().Body, phase, c.name, dirMatrix); ok {
				stored[seq]++
			}
		}
	}
	seqs := make([]int, 0, len(timeline)) // per timeline event: its number, or 0
	index := make(map[id.EventID]int, len(timeline))
	for _, evt := range timeline {
		index[evt.ID] = len(seqs)
		seqs = append(seqs, 0)
		if evt.Type != event.EventMessage || evt.Sender != c.ghost {
			continue
		}
		content := evt.Content.AsMessage()
		if target := content.RelatesTo.GetReplaceID(); target != "" && content.NewContent != nil {
			if seq, ok := parseFaultText(content.NewContent.Body, phase, c.name, dirWA); ok {
				if i, known := index[target]; known && seqs[i] == 0 {
					seqs[i] = seq
				} else if !known {
					seqs[len(seqs)-1] = seq
				}
			}
			continue
		}
		if seq, ok := parseFaultText(content.Body, phase, c.name, dirWA); ok {
			seqs[len(seqs)-1] = seq
		}
	}
	for _, seq := range seqs {
		if seq != 0 {
			arrived = append(arrived, seq)
		}
	}
	return arrived, stored
}

// missedLive counts the numbers in arrived (read from a fresh /sync of the room) that the chat's
// Matrix user's live /sync never delivered (see streamStats.liveMissed).
func missedLive(c *faultChat, phase string, arrived []int) int {
	view, _ := c.view.RoomTimeline(c.room)
	live, _ := arrivedInMatrix(c, phase, view)
	have := make(map[int]bool, len(live))
	for _, seq := range live {
		have[seq] = true
	}
	missed := 0
	for _, seq := range arrived {
		if !have[seq] {
			missed++
			have[seq] = true
		}
	}
	return missed
}

// describeMissing names the WhatsApp messages of the phase that did not arrive in the chat's room
// by number and WhatsApp message ID, and says where their text shows up in the room instead (from
// another sender, or only in an edit), to trace them in the bridge's log.
func describeMissing(c *faultChat, phase string, perChat int, arrived []int, timeline []*event.Event) string {
	got := make(map[int]bool, len(arrived))
	for _, seq := range arrived {
		got[seq] = true
	}
	var out []string
	for seq := 1; seq <= perChat; seq++ {
		if got[seq] {
			continue
		}
		text := faultText(phase, c.name, dirWA, seq)
		msgID, _ := c.sentIDs.Load(text)
		where := "nowhere in the room"
		for _, evt := range timeline {
			if evt.Type != event.EventMessage {
				continue
			}
			content := evt.Content.AsMessage()
			if strings.Contains(content.Body, text) || (content.NewContent != nil && strings.Contains(content.NewContent.Body, text)) {
				where = fmt.Sprintf("in %s from %s (edit of %q)", evt.ID, evt.Sender, content.RelatesTo.GetReplaceID())
				break
			}
		}
		out = append(out, fmt.Sprintf("%d (WhatsApp ID %v): %s", seq, msgID, where))
	}
	return strings.Join(out, "; ")
}

// arrivalsOnWhatsApp returns the numbers of the phase's Matrix messages the chat's contact
// decrypted, in the order they were decrypted (arrived), and in the order of the first stanza of
// each (shown: a message whose first copy the contact could not decrypt counts at the place of
// that copy, where a phone shows "Waiting for this message" until the resend after its retry
// receipt fills it in), and how many were first undecryptable.
func arrivalsOnWhatsApp(c *faultChat, phase string) (arrived, shown []int, undecryptable int) {
	firstSeen := make(map[types.MessageID]int)
	type decrypted struct{ at, seq int }
	var got []decrypted
	for i, evt := range c.contact.All() {
		switch evt := evt.(type) {
		case *events.UndecryptableMessage:
			if _, seen := firstSeen[evt.Info.ID]; !seen {
				firstSeen[evt.Info.ID] = i
			}
		case *events.Message:
			seq, ok := parseFaultText(wasim.MessageText(evt), phase, c.name, dirMatrix)
			if !ok {
				continue
			}
			arrived = append(arrived, seq)
			at, seen := firstSeen[evt.Info.ID]
			if seen && at < i {
				undecryptable++
			} else if !seen {
				at = i
				firstSeen[evt.Info.ID] = i
			}
			got = append(got, decrypted{at, seq})
		}
	}
	slices.SortStableFunc(got, func(a, b decrypted) int { return a.at - b.at })
	for _, d := range got {
		shown = append(shown, d.seq)
	}
	return arrived, shown, undecryptable
}

// tally judges both directions of a phase over all chats, by each room as its Matrix user's
// client shows it when it loads the room afresh (e2e.RecentTimeline: an initial /sync, not the
// /messages paging that skips events on Dendrite). problems describes, per chat and direction,
// what arrived when that was not everything once and in order. The final tally, after every
// scenario, also counts what the user's live /sync missed (streamStats.liveMissed).
func tally(ctx context.Context, chats []*faultChat, phase string, perChat, limit int, final bool) (wa, mx streamStats, problems []string, err error) {
	for _, c := range chats {
		timeline, limited, err := e2e.RecentTimeline(ctx, c.user.client, c.room, limit)
		if err != nil {
			return wa, mx, nil, err
		}
		if limited && len(timeline) > 0 && strings.HasPrefix(timeline[0].Content.AsMessage().Body, phase+" ") {
			// The window may have cut the phase off: a message outside it would count as lost
			// (or, sent from Matrix, as never stored by the homeserver).
			return wa, mx, nil, fmt.Errorf("the latest %d messages of %s's room begin inside phase %s: raise the limit", limit, c.name, phase)
		}
		arrived, stored := arrivedInMatrix(c, phase, timeline)
		if final {
			wa.liveMissed += missedLive(c, phase, arrived)
		}
		waArrived, waShown, waUndecryptable := arrivalsOnWhatsApp(c, phase)
		for _, d := range []struct {
			dir     string
			stored  map[int]int
			arrived []int
			total   *streamStats
		}{{dirWA, nil, arrived, &wa}, {dirMatrix, stored, waArrived, &mx}} {
			st := judgeAgainst(perChat, d.stored, d.arrived)
			d.total.add(st)
			if st.delivered != st.sent || !st.clean() {
				problem := fmt.Sprintf("%s %s: %d of %d arrived: %v (homeserver stored %v)", c.name, d.dir, st.delivered, st.sent, d.arrived, d.stored)
				if d.dir == dirMatrix && waUndecryptable > 0 {
					problem += fmt.Sprintf("; %d first undecryptable on the contact's phone, shown there in the order %v", waUndecryptable, waShown)
				}
				if d.dir == dirWA && st.lost > 0 {
					problem += "; missing: " + describeMissing(c, phase, perChat, d.arrived, timeline)
					var shown []string
					for _, evt := range timeline {
						if body := evt.Content.AsMessage().Body; strings.HasPrefix(body, phase+" ") {
							shown = append(shown, fmt.Sprintf("%s %s %q", evt.ID, evt.Sender, body))
						}
					}
					problem += fmt.Sprintf("; the room holds: %s", strings.Join(shown, ", "))
				}
				problems = append(problems, problem)
			}
		}
	}
	return wa, mx, problems, nil
}

// waitStreamDelivered polls until every message of the phase arrived in both directions or ctx ends, and
// returns the last tally.
func waitStreamDelivered(ctx context.Context, chats []*faultChat, phase string, perChat int) (wa, mx streamStats, problems []string) {
	for {
		var err error
		wa, mx, problems, err = tally(ctx, chats, phase, perChat, 4*perChat+200, false)
		if err == nil && wa.delivered == wa.sent && mx.delivered+mx.hsLost == mx.sent {
			return wa, mx, problems
		}
		if ctx.Err() != nil {
			return wa, mx, problems
		}
		pause(ctx, time.Second)
	}
}

// TestFaultJudge checks the suite's own counting, which runs without Dendrite.
func TestFaultJudge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		stored  map[int]int
		arrived []int
		want    streamStats
	}{
		{"all once in order", nil, []int{1, 2, 3}, streamStats{sent: 3, delivered: 3}},
		{"doubled, lost, overtaken", nil, []int{1, 3, 1, 2}, streamStats{sent: 4, delivered: 3, duplicated: 1, lost: 1, outOfOrder: 1}},
		{"homeserver stored one twice", map[int]int{1: 2, 2: 1}, []int{1, 1, 2}, streamStats{sent: 2, delivered: 2, hsDuplicated: 1}},
		{"homeserver never stored one", map[int]int{2: 1}, []int{2}, streamStats{sent: 2, delivered: 1, hsLost: 1}},
		{"bridge doubled one stored once", map[int]int{1: 1}, []int{1, 1}, streamStats{sent: 1, delivered: 1, duplicated: 1}},
		// The room's view missed the Matrix user's message 2, but WhatsApp got it: delivered,
		// not lost by the homeserver (a wait for delivered + homeserver-lost = sent must end).
		{"arrived although the room did not show it", map[int]int{1: 1, 3: 1}, []int{1, 2, 3}, streamStats{sent: 3, delivered: 3}},
	} {
		if got := judgeAgainst(tc.want.sent, tc.stored, tc.arrived); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
	// The room as a client shows it: a placeholder replaced by an edit counts at its place; the
	// user's own messages count as stored; other phases and senders do not count.
	user := mautrix.Client{UserID: "@alice:test"}
	c := &faultChat{name: "c01", user: &loggedInUser{client: &user}, ghost: "@wa_1:test"}
	msg := func(id id.EventID, sender id.UserID, body string, replaces id.EventID) *event.Event {
		content := &event.MessageEventContent{MsgType: event.MsgText, Body: body}
		if replaces != "" {
			content.SetEdit(replaces)
			content.NewContent.Body = body
		}
		return &event.Event{ID: id, Sender: sender, Type: event.EventMessage, Content: event.Content{Parsed: content}}
	}
	timeline := []*event.Event{
		msg("$1", c.ghost, faultText("f", "c01", dirWA, 1), ""),
		msg("$2", c.user.client.UserID, faultText("f", "c01", dirMatrix, 1), ""),
		msg("$3", c.ghost, "Waiting for this message", ""),
		msg("$4", c.ghost, faultText("f", "c01", dirWA, 3), ""),
		msg("$5", c.ghost, faultText("f", "c01", dirWA, 2), "$3"),
		msg("$6", c.ghost, faultText("e", "c01", dirWA, 4), ""),
		msg("$7", c.user.client.UserID, faultText("f", "c01", dirWA, 5), ""),
	}
	arrived, stored := arrivedInMatrix(c, "f", timeline)
	if !slices.Equal(arrived, []int{1, 2, 3}) || len(stored) != 1 || stored[1] != 1 {
		t.Errorf("room read as numbers %v, stored %v; want [1 2 3] (the edit at its placeholder's place) and the user's message 1 once", arrived, stored)
	}
}
