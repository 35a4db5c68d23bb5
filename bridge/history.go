package bridge

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// History backfill after a link: the phone sends its history in chunks (whatsapp.HistoryChunk);
// each chat of a chunk that passes bridge.history_sync's limits is backfilled into its portal
// (portal.Manager.BackfillChat), one chat at a time, most recently active first. The management
// room shows one progress line, edited at most every historyProgressInterval, and a summary once
// the phone says it sent everything (progress 100).

// historyProgressInterval is the least time between two edits of the progress line.
const historyProgressInterval = 3 * time.Second

// historyProgress is one user's backfill since the last link. Guarded by lock.
type historyProgress struct {
	// handleLock serialises the handling of chunks with their restoration after a restart
	// (history_store.go); it is held across Matrix calls, lock never is.
	handleLock sync.Mutex
	// restored says the chunks kept in the database were read back (or that there was nothing
	// to read back: a new link). Guarded by handleLock.
	restored bool

	lock    sync.Mutex
	running bool
	// chats are the chats chosen for backfill, with how many messages (not counting reactions,
	// edits and deletions) each was given so far.
	chats map[types.JID]int
	// decided remembers every chat seen, so that one counted as skipped is counted once.
	decided   map[types.JID]bool
	chatsDone map[types.JID]bool
	messages  int
	archived  int
	overLimit int
	tooOld    int
	// cutByCount and cutByAge are the messages (not counting reactions, edits and deletions) of
	// chosen chats left out by max_messages_per_chat and max_age_days.
	cutByCount   int
	cutByAge     int
	mediaSkipped int
	failed       int
	noticeID     id.EventID
	noticeEdited time.Time
	// buffered are the chats of RECENT and FULL chunks, backfilled once the last chunk is in.
	buffered map[types.JID]*whatsapp.HistoryChat
}

// reset starts a new backfill (a new link). Caller holds h.lock.
func (h *historyProgress) reset() {
	h.running = false
	h.chats, h.decided, h.chatsDone = map[types.JID]int{}, map[types.JID]bool{}, map[types.JID]bool{}
	h.messages, h.archived, h.overLimit, h.tooOld, h.mediaSkipped, h.failed = 0, 0, 0, 0, 0, 0
	h.cutByCount, h.cutByAge = 0, 0
	h.noticeID, h.noticeEdited, h.buffered = "", time.Time{}, nil
}

// line is the progress line: "Bringing over your history: 12 of 40 chats, 3,410 messages".
func (h *historyProgress) line() string {
	return fmt.Sprintf("Bringing over your history: %d of %d chats, %s messages", len(h.chatsDone), len(h.chats), formatCount(h.messages))
}

// doneLine is the progress line once the backfill ended: "Bringing over your history: done,
// 3 chats, 9 messages.", the figures of summary.
func (h *historyProgress) doneLine() string {
	return fmt.Sprintf("Bringing over your history: done, %s, %s.", plural(len(h.chatsDone), "chat"), plural(h.messages, "message"))
}

// summary is the final notice; cfg gives the limits it names.
func (h *historyProgress) summary(cfg config.HistorySyncConfig) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Your history is here: %s, %s.", plural(len(h.chatsDone), "chat"), plural(h.messages, "message"))
	var left []string
	if h.archived > 0 {
		left = append(left, plural(h.archived, "archived chat")+" (`bridge.history_sync.skip_archived`)")
	}
	if h.overLimit > 0 {
		left = append(left, fmt.Sprintf("%s beyond the %d most recent (`bridge.history_sync.max_chats`)", plural(h.overLimit, "chat"), cfg.ChatLimit()))
	}
	if h.cutByCount > 0 {
		left = append(left, fmt.Sprintf("%s beyond the %d most recent of their chat (`bridge.history_sync.max_messages_per_chat`)", plural(h.cutByCount, "older message"), cfg.MessageLimit()))
	}
	if h.cutByAge > 0 {
		left = append(left, fmt.Sprintf("%s older than %s (`bridge.history_sync.max_age_days`)", plural(h.cutByAge, "message"), plural(cfg.MaxAgeDays, "day")))
	}
	if h.mediaSkipped > 0 {
		left = append(left, plural(h.mediaSkipped, "file")+" (shown as notices; `bridge.history_sync.media`, `max_media_per_chat`)")
	}
	if h.tooOld > 0 {
		left = append(left, plural(h.tooOld, "message")+" older than what their room already showed")
	}
	if h.failed > 0 {
		left = append(left, plural(h.failed, "chat")+" that failed (see the bridge log)")
	}
	if len(left) > 0 {
		sb.WriteString(" Not brought over: " + strings.Join(left, "; ") + ".")
	}
	return sb.String()
}

// HandleHistorySync implements whatsapp.Handler. The initial bootstrap (the phone's most recent
// chats) is backfilled at once, so those portals exist before live messages of their chats come
// in. The later chunks (RECENT, FULL) are collected and backfilled together once the phone says it
// sent everything (progress 100): a chat split across chunks is then posted whole, oldest first,
// instead of its newer half first.
func (r waRouter) HandleHistorySync(ctx context.Context, chunk *whatsapp.HistoryChunk) error {
	cfg := r.user.br.Config.Bridge.HistorySync
	if chunk.Type == waHistorySync.HistorySync_ON_DEMAND {
		r.handleEarlierHistory(ctx, chunk) // history_cmd.go: the answer to sync-history
		return nil
	} else if !cfg.IsEnabled() {
		return nil
	}
	log := zerolog.Ctx(ctx).With().Str("history_type", chunk.Type.String()).Uint32("history_progress", chunk.Progress).Logger()
	ctx = log.WithContext(ctx)
	h := &r.user.history
	h.handleLock.Lock()
	defer h.handleLock.Unlock()
	bootstrap := chunk.Type == waHistorySync.HistorySync_INITIAL_BOOTSTRAP
	if bootstrap {
		r.forgetKeptHistory(ctx) // history_store.go: a new link starts a new history
	} else {
		r.restoreHistory(ctx)
		r.keepHistoryChunk(ctx, chunk)
	}
	h.lock.Lock()
	if bootstrap || h.chats == nil {
		h.reset()
	}
	h.running = true
	var now []whatsapp.HistoryChat
	if bootstrap {
		now = chunk.Chats
	} else {
		for _, chat := range chunk.Chats {
			h.buffer(chat)
		}
	}
	final := chunk.Progress >= 100
	if final {
		now = append(now, h.takeBuffered()...)
	}
	h.lock.Unlock()

	r.backfillChats(ctx, now)
	r.updateHistoryNotice(ctx, final)
	if final {
		r.forgetKeptHistory(ctx)
	}
	return nil
}

// buffer adds a chat of a later chunk to what is backfilled at the end. Caller holds h.lock.
func (h *historyProgress) buffer(chat whatsapp.HistoryChat) {
	jid := chat.JID.ToNonAD()
	if h.buffered == nil {
		h.buffered = map[types.JID]*whatsapp.HistoryChat{}
	}
	have := h.buffered[jid]
	if have == nil {
		chat.Messages = slices.Clone(chat.Messages)
		h.buffered[jid] = &chat
		return
	}
	have.Messages = append(have.Messages, chat.Messages...)
	have.Archived = have.Archived || chat.Archived
	if chat.LastActivity.After(have.LastActivity) {
		have.LastActivity = chat.LastActivity
	}
	if have.Name == "" {
		have.Name = chat.Name
	}
}

// takeBuffered returns the buffered chats, each with its messages in order and without repeats,
// and empties the buffer. Caller holds h.lock.
func (h *historyProgress) takeBuffered() []whatsapp.HistoryChat {
	chats := make([]whatsapp.HistoryChat, 0, len(h.buffered))
	for _, chat := range h.buffered {
		seen := make(map[types.MessageID]bool, len(chat.Messages))
		msgs := chat.Messages[:0]
		for _, msg := range chat.Messages {
			if !seen[msg.Info.ID] {
				seen[msg.Info.ID] = true
				msgs = append(msgs, msg)
			}
		}
		slices.SortStableFunc(msgs, func(a, b *events.Message) int { return a.Info.Timestamp.Compare(b.Info.Timestamp) })
		chat.Messages = msgs
		chats = append(chats, *chat)
	}
	h.buffered = nil
	return chats
}

// backfillChats backfills chats, most recently active first, within bridge.history_sync's limits.
func (r waRouter) backfillChats(ctx context.Context, chats []whatsapp.HistoryChat) {
	br, h := r.user.br, &r.user.history
	cfg := br.Config.Bridge.HistorySync
	chats = slices.Clone(chats)
	slices.SortStableFunc(chats, func(a, b whatsapp.HistoryChat) int { return b.LastActivity.Compare(a.LastActivity) })
	var minTime time.Time
	if cfg.MaxAgeDays > 0 {
		minTime = time.Now().AddDate(0, 0, -cfg.MaxAgeDays)
	}
	opts := portal.BackfillOptions{Media: cfg.MediaEnabled(), MediaLimit: cfg.MediaLimit()}
	for _, chat := range chats {
		if ctx.Err() != nil {
			return
		}
		msgs, ok := r.chooseHistory(chat, cfg.ChatLimit(), cfg.MessageLimit(), cfg.SkipsArchived(), minTime)
		if !ok || len(msgs) == 0 {
			continue
		}
		r.updateHistoryNotice(ctx, false)
		r.syncHistorySenders(ctx, msgs)
		var res portal.BackfillResult
		err := br.retryTransient(ctx, "backfill chat history", func() error {
			var err error
			res, err = br.portals.BackfillChat(ctx, r.login(), chat.JID, msgs, opts)
			return err
		})
		h.lock.Lock()
		h.messages += res.Bridged
		h.tooOld += res.TooOld
		h.mediaSkipped += res.MediaSkipped
		h.chatsDone[chat.JID.ToNonAD()] = true
		if err != nil {
			h.failed++
		}
		h.lock.Unlock()
		if err != nil {
			zerolog.Ctx(ctx).Err(err).Stringer("chat", chat.JID).Msg("Failed to backfill chat history")
		}
		r.updateHistoryNotice(ctx, false) // the chat's figures, at most every historyProgressInterval
	}
}

// syncHistorySenders gives the ghosts of a chat's history senders their names and pictures, as
// a live message does, once per sender.
func (r waRouter) syncHistorySenders(ctx context.Context, msgs []*events.Message) {
	done := map[types.JID]bool{}
	for i := len(msgs) - 1; i >= 0; i-- {
		info := msgs[i].Info
		if sender := whatsapp.Sender(info); !info.IsFromMe && !done[sender] {
			done[sender] = true
			r.user.br.syncPushName(ctx, r.login(), info)
		}
	}
}

// chooseHistory applies the limits to one chat of a chunk: whether it gets a portal at all (not
// archived, within the chat limit) and which of its messages (not too old, the newest that fit in
// what is left of the per-chat message limit).
func (r waRouter) chooseHistory(chat whatsapp.HistoryChat, maxChats, maxMessages int, skipArchived bool, minTime time.Time) ([]*events.Message, bool) {
	if chat.JID.Server == types.BroadcastServer || chat.JID.Server == types.NewsletterServer {
		return nil, false
	}
	h := &r.user.history
	h.lock.Lock()
	defer h.lock.Unlock()
	jid := chat.JID.ToNonAD()
	bridged, chosen := h.chats[jid]
	if !chosen {
		if h.decided[jid] {
			return nil, false
		}
		h.decided[jid] = true
		switch {
		case chat.Archived && skipArchived:
			h.archived++
			return nil, false
		case maxChats >= 0 && len(h.chats) >= maxChats:
			h.overLimit++
			return nil, false
		}
		if len(chat.Messages) == 0 {
			h.decided[jid] = false // metadata only: a later chunk may bring its messages
			return nil, false
		}
		h.chats[jid] = 0
	}
	msgs := chat.Messages
	if !minTime.IsZero() {
		from := 0
		for from < len(msgs) && msgs[from].Info.Timestamp.Before(minTime) {
			if !isHistoryRelation(msgs[from]) {
				h.cutByAge++
			}
			from++
		}
		msgs = msgs[from:]
	}
	// The newest messages that fit in what is left of the chat's budget; reactions, edits and
	// deletions among them come along without counting.
	from, counted := len(msgs), 0
	for from > 0 && (maxMessages < 0 || counted < maxMessages-bridged || isHistoryRelation(msgs[from-1])) {
		from--
		if !isHistoryRelation(msgs[from]) {
			counted++
		}
	}
	h.chats[jid] += counted
	for _, msg := range msgs[:from] {
		if !isHistoryRelation(msg) {
			h.cutByCount++
		}
	}
	return msgs[from:], true
}

// isHistoryRelation says msg changes another message (reaction, edit, deletion).
func isHistoryRelation(msg *events.Message) bool {
	return msg.Message.GetReactionMessage() != nil || msg.Message.GetProtocolMessage() != nil
}

// updateHistoryNotice posts the progress line, or edits it when it was posted at least
// historyProgressInterval ago; final posts the summary instead and ends the backfill.
func (r waRouter) updateHistoryNotice(ctx context.Context, final bool) {
	user := r.user
	h := &user.history
	h.lock.Lock()
	if !h.running || len(h.chats) == 0 && !final {
		h.lock.Unlock()
		return
	}
	if final {
		h.running = false
	}
	if !final && h.noticeID != "" && time.Since(h.noticeEdited) < historyProgressInterval {
		h.lock.Unlock()
		return
	}
	text, edit := h.line()+".", h.noticeID
	var doneLine string
	if final {
		text = h.summary(user.br.Config.Bridge.HistorySync)
		doneLine = h.doneLine()
		if len(h.chats) == 0 && h.archived == 0 && h.overLimit == 0 {
			h.lock.Unlock()
			return // the phone had no history to speak of
		}
	}
	h.noticeEdited = time.Now()
	h.lock.Unlock()

	room := user.ManagementRoom()
	if room == "" {
		return
	}
	if final && edit != "" {
		// The progress line ends with the figures of the summary that follows it.
		done := format.RenderMarkdown(doneLine, true, false)
		done.MsgType = event.MsgNotice
		done.SetEdit(edit)
		if _, err := user.br.AS.BotIntent().SendMessageEvent(ctx, room, event.EventMessage, &done); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to edit history progress")
		}
	}
	content := format.RenderMarkdown(text, true, false)
	content.MsgType = event.MsgNotice
	if edit != "" && !final {
		content.SetEdit(edit)
	}
	resp, err := user.br.AS.BotIntent().SendMessageEvent(ctx, room, event.EventMessage, &content)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to post history progress")
		return
	}
	if edit == "" && !final {
		h.lock.Lock()
		h.noticeID = resp.EventID
		h.lock.Unlock()
	}
}

// historyStatus is the line `status` shows while a backfill runs ("" otherwise).
func (user *Account) historyStatus() string {
	h := &user.history
	h.lock.Lock()
	defer h.lock.Unlock()
	if !h.running || len(h.chats) == 0 {
		return ""
	}
	return h.line() + " so far."
}

// formatCount writes n with thousands separators: 3410 -> "3,410".
func formatCount(n int) string {
	s := strconv.Itoa(n)
	var sb strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			sb.WriteByte(',')
		}
		sb.WriteRune(c)
	}
	return sb.String()
}

// plural is "1 chat", "2 chats", "1,000 messages".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return formatCount(n) + " " + noun + "s"
}
