package wasim

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/proto/waWeb"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// History sync: after a companion links (and after the app state key share), the phone hands it
// the chat history as real phones do. Each chunk is a waHistorySync.HistorySync protobuf,
// zlib-compressed, uploaded as encrypted media of type md-msg-hist, and announced by a
// HistorySyncNotification protocol message over the peer channel (whatsmeow's
// handleHistorySyncNotificationLoop downloads it, dispatches events.HistorySync and deletes the
// upload). The chunks, in order:
//
//  1. PUSH_NAME: the push names of everyone in the history.
//  2. INITIAL_BOOTSTRAP: the BootstrapChats most recent chats with their newest BootstrapMessages
//     messages each, with the chats' metadata (name, archived, unread count, last activity).
//  3. RECENT: every other message sent within RecentWindow, newest chats first, at most
//     ChunkMessages messages per chunk (a chat may span chunks).
//  4. FULL: the messages older than RecentWindow, chunked the same way.
//
// Progress (0-100) grows with each chunk after the push names; the last chunk says 100.

// historySyncTimeout bounds the phone's whole history sync to one companion.
const historySyncTimeout = 5 * time.Minute

// HistorySyncOptions shape how the phone splits its history. Zero fields take the defaults.
type HistorySyncOptions struct {
	// Disabled: the phone sends no history (as when the user declines it while linking).
	Disabled bool
	// BootstrapChats is how many chats the initial bootstrap holds (default 20).
	BootstrapChats int
	// BootstrapMessages is how many of each chat's newest messages the bootstrap holds (default 50).
	BootstrapMessages int
	// RecentWindow separates RECENT from FULL history (default 90 days).
	RecentWindow time.Duration
	// ChunkMessages bounds the messages of one RECENT or FULL chunk (default 500).
	ChunkMessages int
	// HoldLast keeps the last chunk (progress 100) back until SendHeldHistory, as a phone that
	// goes offline in the middle of a history sync sends the rest later.
	HoldLast bool
}

func (o HistorySyncOptions) withDefaults() HistorySyncOptions {
	if o.BootstrapChats <= 0 {
		o.BootstrapChats = 20
	}
	if o.BootstrapMessages <= 0 {
		o.BootstrapMessages = 50
	}
	if o.RecentWindow <= 0 {
		o.RecentWindow = 90 * 24 * time.Hour
	}
	if o.ChunkMessages <= 0 {
		o.ChunkMessages = 500
	}
	return o
}

// SetHistorySyncOptions changes how the account's phone sends history to companions linked from
// now on.
func (a *Account) SetHistorySyncOptions(opts HistorySyncOptions) {
	a.history.lock.Lock()
	defer a.history.lock.Unlock()
	a.history.opts = opts
}

// HistorySyncSent is recorded in the phone's EventLog for each history sync chunk the server
// accepted for a companion.
type HistorySyncSent struct {
	Device        uint16
	SyncType      waHistorySync.HistorySync_HistorySyncType
	ChunkOrder    uint32
	Progress      uint32
	Conversations int
	Messages      int
}

// historyChunk is one HistorySync before it is encoded.
type historyChunk struct {
	hs       *waHistorySync.HistorySync
	messages int
}

// SendHistorySync has the phone send its whole history to its companion deviceID, chunk after
// chunk as described above. It returns once the server accepted the last notification.
func (a *Account) SendHistorySync(ctx context.Context, deviceID uint16) error {
	a.history.lock.Lock()
	opts := a.history.opts.withDefaults()
	a.history.lock.Unlock()
	if opts.Disabled {
		return nil
	}
	chunks := buildHistoryChunks(a.historySnapshot(), opts, time.Now())
	if opts.HoldLast && len(chunks) > 1 {
		a.history.lock.Lock()
		a.history.held, a.history.heldDevice = &chunks[len(chunks)-1], deviceID
		a.history.lock.Unlock()
		chunks = chunks[:len(chunks)-1]
	}
	for _, chunk := range chunks {
		if err := a.sendHistoryChunk(ctx, deviceID, chunk); err != nil {
			return err
		}
	}
	return nil
}

// ErrNoHeldHistory is returned by SendHeldHistory when no chunk is held back.
var ErrNoHeldHistory = errors.New("the phone holds back no history chunk")

// SendHeldHistory sends the chunk HistorySyncOptions.HoldLast kept back to its companion (queued
// by the server while the companion is offline).
func (a *Account) SendHeldHistory(ctx context.Context) error {
	a.history.lock.Lock()
	chunk, deviceID := a.history.held, a.history.heldDevice
	a.history.held = nil
	a.history.lock.Unlock()
	if chunk == nil {
		return ErrNoHeldHistory
	}
	return a.sendHistoryChunk(ctx, deviceID, *chunk)
}

// buildHistoryChunks splits convs (newest chat first, messages oldest first) into the chunks a
// phone sends.
func buildHistoryChunks(convs []*historyConversation, opts HistorySyncOptions, now time.Time) []historyChunk {
	pushNames := map[string]string{}
	for _, conv := range convs {
		for _, web := range conv.messages {
			if web.GetPushName() == "" || web.GetKey().GetFromMe() {
				continue
			}
			sender := web.GetParticipant()
			if sender == "" {
				sender = web.GetKey().GetRemoteJID()
			}
			pushNames[sender] = web.GetPushName()
		}
	}
	var chunks []historyChunk
	if len(pushNames) > 0 {
		ps := &waHistorySync.HistorySync{SyncType: waHistorySync.HistorySync_PUSH_NAME.Enum()}
		for jid, name := range pushNames {
			ps.Pushnames = append(ps.Pushnames, &waHistorySync.Pushname{ID: proto.String(jid), Pushname: proto.String(name)})
		}
		chunks = append(chunks, historyChunk{hs: ps})
	}
	cutoff := uint64(now.Add(-opts.RecentWindow).Unix())
	bootstrap := historyChunk{hs: &waHistorySync.HistorySync{SyncType: waHistorySync.HistorySync_INITIAL_BOOTSTRAP.Enum()}}
	type rest struct {
		conv *historyConversation
		msgs []*waWeb.WebMessageInfo
	}
	var recent, full []rest
	for i, conv := range convs {
		older := conv.messages
		if i < opts.BootstrapChats {
			from := max(len(older)-opts.BootstrapMessages, 0)
			var boot []*waWeb.WebMessageInfo
			for _, web := range older[from:] {
				if web.GetMessageTimestamp() >= cutoff {
					boot = append(boot, web)
				}
			}
			older = older[:len(older)-len(boot)]
			bootstrap.hs.Conversations = append(bootstrap.hs.Conversations, conv.encode(boot))
			bootstrap.messages += len(boot)
		}
		var r, f []*waWeb.WebMessageInfo
		for _, web := range older {
			if web.GetMessageTimestamp() >= cutoff {
				r = append(r, web)
			} else {
				f = append(f, web)
			}
		}
		if len(r) > 0 {
			recent = append(recent, rest{conv, r})
		}
		if len(f) > 0 {
			full = append(full, rest{conv, f})
		}
	}
	chunks = append(chunks, bootstrap)
	split := func(syncType waHistorySync.HistorySync_HistorySyncType, parts []rest) {
		var cur *historyChunk
		for _, part := range parts {
			msgs := part.msgs
			for len(msgs) > 0 {
				if cur == nil || cur.messages >= opts.ChunkMessages {
					chunks = append(chunks, historyChunk{hs: &waHistorySync.HistorySync{SyncType: syncType.Enum()}})
					cur = &chunks[len(chunks)-1]
				}
				// A chat split across chunks gives its newest messages first, as phones do.
				n := min(len(msgs), opts.ChunkMessages-cur.messages)
				cur.hs.Conversations = append(cur.hs.Conversations, part.conv.encode(msgs[len(msgs)-n:]))
				cur.messages += n
				msgs = msgs[:len(msgs)-n]
			}
		}
	}
	split(waHistorySync.HistorySync_RECENT, recent)
	split(waHistorySync.HistorySync_FULL, full)
	first := 0
	if len(pushNames) > 0 {
		first = 1
	}
	counted := len(chunks) - first
	for i := first; i < len(chunks); i++ {
		n := uint32(i - first + 1)
		chunks[i].hs.ChunkOrder = proto.Uint32(n)
		chunks[i].hs.Progress = proto.Uint32(100 * n / uint32(counted))
	}
	return chunks
}

// encode is the chat with msgs as a history sync conversation; msgs are given newest first, with
// their order IDs, as phones do.
func (c *historyConversation) encode(msgs []*waWeb.WebMessageInfo) *waHistorySync.Conversation {
	conv := &waHistorySync.Conversation{
		ID:                    proto.String(c.chat.String()),
		ConversationTimestamp: proto.Uint64(c.lastTimestamp()),
		UnreadCount:           proto.Uint32(c.info.UnreadCount),
	}
	if c.info.Name != "" {
		conv.Name = proto.String(c.info.Name)
	}
	if c.info.Archived {
		conv.Archived = proto.Bool(true)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		conv.Messages = append(conv.Messages, &waHistorySync.HistorySyncMsg{Message: msgs[i], MsgOrderID: proto.Uint64(uint64(i + 1))})
	}
	return conv
}

// sendHistoryChunk compresses and uploads one chunk through the phone's client and announces it to
// the companion.
func (a *Account) sendHistoryChunk(ctx context.Context, deviceID uint16, chunk historyChunk) error {
	return a.sendHistoryChunkTo(ctx, deviceID, chunk, "")
}

// sendHistoryChunkTo is sendHistoryChunk for the answer to the peer data request sessionID ("" for
// none).
func (a *Account) sendHistoryChunkTo(ctx context.Context, deviceID uint16, chunk historyChunk, sessionID types.MessageID) error {
	raw, err := proto.Marshal(chunk.hs)
	if err != nil {
		return fmt.Errorf("failed to marshal history sync: %w", err)
	}
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(raw)
	if err = zw.Close(); err != nil {
		return fmt.Errorf("failed to compress history sync: %w", err)
	}
	phone := a.Phone()
	if phone == nil {
		return fmt.Errorf("phone of %s is not online", a.pn.User)
	}
	up, err := phone.cli.Upload(ctx, buf.Bytes(), whatsmeow.MediaHistory)
	if err != nil {
		return fmt.Errorf("failed to upload history sync: %w", err)
	}
	notif := &waE2E.HistorySyncNotification{
		FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength), MediaKey: up.MediaKey,
		FileEncSHA256: up.FileEncSHA256, DirectPath: proto.String(up.DirectPath),
		SyncType:   waE2E.HistorySyncType(chunk.hs.GetSyncType()).Enum(),
		ChunkOrder: chunk.hs.ChunkOrder, Progress: chunk.hs.Progress,
	}
	if sessionID != "" {
		notif.PeerDataRequestSessionID = proto.String(sessionID)
	}
	if len(chunk.hs.Conversations) > 0 {
		oldest := int64(0)
		for _, conv := range chunk.hs.Conversations {
			for _, m := range conv.Messages {
				if ts := int64(m.GetMessage().GetMessageTimestamp()); oldest == 0 || ts < oldest {
					oldest = ts
				}
			}
		}
		notif.OldestMsgInChunkTimestampSec = proto.Int64(oldest)
	}
	_, err = a.SendPeer(ctx, deviceID, &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
		Type: waE2E.ProtocolMessage_HISTORY_SYNC_NOTIFICATION.Enum(), HistorySyncNotification: notif,
	}})
	if err != nil {
		return fmt.Errorf("failed to announce history sync chunk: %w", err)
	}
	phone.Add(&HistorySyncSent{
		Device: deviceID, SyncType: chunk.hs.GetSyncType(), ChunkOrder: chunk.hs.GetChunkOrder(),
		Progress: chunk.hs.GetProgress(), Conversations: len(chunk.hs.Conversations), Messages: chunk.messages,
	})
	return nil
}

// HistoryRequestAnswered is recorded in the phone's EventLog once it answered an on-demand history
// request (whatsmeow BuildHistorySyncRequest): Messages is how many it sent (0: it had none older).
type HistoryRequestAnswered struct {
	RequestID types.MessageID
	Chat      types.JID
	Messages  int
}

// answerHistoryRequest answers a companion's on-demand history request as phones do: with an
// ON_DEMAND history sync chunk holding up to the requested number of the chat's messages before the
// given oldest one, announced to the requesting device with the request's ID as session ID. A chat
// the phone does not know, or with nothing older, gets an empty chunk.
func (a *Account) answerHistoryRequest(reqInfo types.MessageInfo, req *waE2E.PeerDataOperationRequestMessage_HistorySyncOnDemandRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), historySyncTimeout)
	defer cancel()
	log := a.srv.log.With().Str("request_id", reqInfo.ID).Str("chat", req.GetChatJID()).Logger()
	chat, _ := types.ParseJID(req.GetChatJID())
	count := int(req.GetOnDemandMsgCount())
	if count <= 0 {
		count = 50
	}
	hs := &waHistorySync.HistorySync{
		SyncType: waHistorySync.HistorySync_ON_DEMAND.Enum(), ChunkOrder: proto.Uint32(1), Progress: proto.Uint32(100),
	}
	sent := 0
	for _, conv := range a.historySnapshot() {
		if conv.chat.ToNonAD() != chat.ToNonAD() {
			continue
		}
		end := len(conv.messages)
		for i, web := range conv.messages {
			if web.GetKey().GetID() == req.GetOldestMsgID() {
				end = i
				break
			} else if int64(web.GetMessageTimestamp()) > req.GetOldestMsgTimestampMS() {
				end = i
				break
			}
		}
		msgs := conv.messages[max(end-count, 0):end]
		hs.Conversations = append(hs.Conversations, conv.encode(msgs))
		sent = len(msgs)
	}
	err := a.sendHistoryChunkTo(ctx, reqInfo.Sender.Device, historyChunk{hs: hs, messages: sent}, reqInfo.ID)
	if err != nil {
		log.Warn().Err(err).Msg("Phone failed to answer history request")
		return
	}
	log.Info().Int("messages", sent).Msg("Phone answered history request")
	if phone := a.Phone(); phone != nil {
		phone.Add(&HistoryRequestAnswered{RequestID: reqInfo.ID, Chat: chat, Messages: sent})
	}
}
