package wasim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waWeb"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// The phone's chat history: what a real phone keeps in its message database and hands to a newly
// linked companion as history sync (historysync.go). It holds messages seeded through the control
// API (SeedHistory, AddHistory: messages from before the simulation started) and every message the
// phone's whatsmeow client received while the simulation ran (its EventLog), merged by message ID.

// HistoryMessage is one message in the phone's history.
type HistoryMessage struct {
	// Chat is the chat: a user's phone JID (a 1:1 chat) or a group JID.
	Chat types.JID
	// ID is the WhatsApp message ID; empty: one is made up (AddHistory returns it).
	ID types.MessageID
	// FromMe says the account itself sent the message (from the phone or a companion).
	FromMe bool
	// Sender is who sent a group message that is not FromMe (a phone JID); ignored otherwise.
	Sender types.JID
	// PushName is the sender's display name at the time.
	PushName string
	// Timestamp is when the message was sent.
	Timestamp time.Time
	// Message is the content. A reaction (ReactionMessage) is folded into its target's reactions,
	// a revoke (ProtocolMessage REVOKE) turns its target into a "deleted" stub, an edit
	// (ProtocolMessage MESSAGE_EDIT) stays an entry of its own, as phones hand them over.
	Message *waE2E.Message
	// Status is the delivery state of a sent message (0: read, for messages FromMe: played/read
	// receipts the phone saw).
	Status waWeb.WebMessageInfo_Status
}

// HistoryChat is what the phone knows about a chat besides its messages.
type HistoryChat struct {
	// Name is a group's subject (1:1 chats are named by the contact).
	Name string
	// Archived chats are in the phone's archive.
	Archived bool
	// UnreadCount is how many messages the user has not read.
	UnreadCount uint32
}

// phoneHistory is an account's seeded history.
type phoneHistory struct {
	lock     sync.Mutex
	messages []HistoryMessage
	chats    map[types.JID]HistoryChat
	opts     HistorySyncOptions // historysync.go
	// held is the last chunk withheld by HistorySyncOptions.HoldLast, with its device.
	held       *historyChunk
	heldDevice uint16
}

// NewHistoryMessageID makes a message ID in the form phones use (3EB0 + 16 hex digits, upper case).
func NewHistoryMessageID() types.MessageID {
	raw := make([]byte, 8)
	_, _ = rand.Read(raw)
	return "3EB0" + strings.ToUpper(hex.EncodeToString(raw))
}

// AddHistory adds msgs to the phone's history and returns their IDs (made up where empty). A
// message needs a chat, a timestamp and content; group messages not from the account need a sender.
func (a *Account) AddHistory(msgs ...HistoryMessage) ([]types.MessageID, error) {
	ids := make([]types.MessageID, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		switch {
		case m.Chat.IsEmpty():
			return nil, fmt.Errorf("history message %d has no chat", i)
		case m.Timestamp.IsZero():
			return nil, fmt.Errorf("history message %d has no timestamp", i)
		case m.Message == nil || proto.Size(m.Message) == 0:
			return nil, fmt.Errorf("history message %d has no content", i)
		case m.Chat.Server == types.GroupServer && !m.FromMe && m.Sender.IsEmpty():
			return nil, fmt.Errorf("group history message %d has no sender", i)
		}
		m.Chat = m.Chat.ToNonAD()
		if m.ID == "" {
			m.ID = NewHistoryMessageID()
		}
		ids[i] = m.ID
	}
	a.history.lock.Lock()
	a.history.messages = append(a.history.messages, msgs...)
	a.history.lock.Unlock()
	return ids, nil
}

// SetHistoryChat sets what the phone knows about chat besides its messages.
func (a *Account) SetHistoryChat(chat types.JID, info HistoryChat) {
	a.history.lock.Lock()
	defer a.history.lock.Unlock()
	if a.history.chats == nil {
		a.history.chats = make(map[types.JID]HistoryChat)
	}
	a.history.chats[chat.ToNonAD()] = info
}

// SeedOptions describe generated history: Chats 1:1 chats with made-up contacts (phone numbers
// NumberPrefix + a counter), Messages text messages each, spread evenly over Span and ending at End.
type SeedOptions struct {
	Chats    int
	Messages int
	// Span is how far back the oldest message is from End (default 7 days).
	Span time.Duration
	// End is when the newest message was sent (default now).
	End time.Time
	// NumberPrefix starts the contacts' phone numbers (default "4915550"); the rest is a counter.
	NumberPrefix string
}

// SeedHistory generates history as opts describe: in each chat the account and the contact take
// turns, starting with the contact; message j of chat i reads "Message j in chat i" (both counted
// from 1). It returns the chats' JIDs.
func (a *Account) SeedHistory(opts SeedOptions) ([]types.JID, error) {
	if opts.Chats <= 0 || opts.Messages <= 0 {
		return nil, fmt.Errorf("seeding history needs at least one chat and one message")
	}
	if opts.Span <= 0 {
		opts.Span = 7 * 24 * time.Hour
	}
	if opts.End.IsZero() {
		opts.End = time.Now()
	}
	if opts.NumberPrefix == "" {
		opts.NumberPrefix = "4915550"
	}
	total := opts.Chats * opts.Messages
	step := opts.Span / time.Duration(max(total, 1))
	start := opts.End.Add(-opts.Span)
	chats := make([]types.JID, opts.Chats)
	var msgs []HistoryMessage
	n := 0
	for j := range opts.Messages {
		for i := range opts.Chats {
			chat := types.NewJID(fmt.Sprintf("%s%04d", opts.NumberPrefix, i+1), types.DefaultUserServer)
			chats[i] = chat
			n++
			msgs = append(msgs, HistoryMessage{
				Chat: chat, FromMe: j%2 == 1, PushName: fmt.Sprintf("Contact %d", i+1),
				Timestamp: start.Add(time.Duration(n) * step).Truncate(time.Second),
				Message:   &waE2E.Message{Conversation: proto.String(fmt.Sprintf("Message %d in chat %d", j+1, i+1))},
			})
		}
	}
	_, err := a.AddHistory(msgs...)
	return chats, err
}

// historyConversation is one chat's history as the phone hands it over.
type historyConversation struct {
	chat     types.JID
	info     HistoryChat
	messages []*waWeb.WebMessageInfo // oldest first
}

// lastTimestamp is when the chat's newest message was sent (unix seconds).
func (c *historyConversation) lastTimestamp() uint64 {
	if len(c.messages) == 0 {
		return 0
	}
	return c.messages[len(c.messages)-1].GetMessageTimestamp()
}

// historySnapshot returns the phone's whole history by chat, newest chat first, each chat's
// messages oldest first: seeded messages merged with what the phone received (by message ID),
// reactions folded into their targets, revoked messages turned into stubs.
func (a *Account) historySnapshot() []*historyConversation {
	a.history.lock.Lock()
	seeded := slices.Clone(a.history.messages)
	chatInfo := make(map[types.JID]HistoryChat, len(a.history.chats))
	for k, v := range a.history.chats {
		chatInfo[k] = v
	}
	a.history.lock.Unlock()

	var webs []*waWeb.WebMessageInfo
	seen := make(map[string]bool)
	for _, m := range seeded {
		seen[m.ID] = true
		webs = append(webs, m.webMessageInfo())
	}
	if phone := a.Phone(); phone != nil {
		for _, evt := range phone.All() {
			msg, ok := evt.(*events.Message)
			if !ok || seen[msg.Info.ID] || msg.Info.Category == "peer" || msg.RawMessage == nil ||
				msg.Info.Chat.Server == types.BroadcastServer || onlyKeyDistribution(msg.RawMessage) {
				continue
			}
			seen[msg.Info.ID] = true
			web := webMessageInfo(msg)
			if msg.Info.Chat.Server == types.HiddenUserServer && !msg.Info.SenderAlt.IsEmpty() && !msg.Info.IsFromMe {
				web.Key.RemoteJID = proto.String(msg.Info.SenderAlt.ToNonAD().String())
			}
			webs = append(webs, web)
		}
	}
	slices.SortStableFunc(webs, func(x, y *waWeb.WebMessageInfo) int {
		return int(int64(x.GetMessageTimestamp()) - int64(y.GetMessageTimestamp()))
	})
	byID := make(map[string]*waWeb.WebMessageInfo, len(webs))
	byChat := make(map[string]*historyConversation)
	var convs []*historyConversation
	for _, web := range webs {
		key := web.GetKey()
		msg := web.GetMessage()
		if r := msg.GetReactionMessage(); r != nil {
			if target := byID[r.GetKey().GetID()]; target != nil {
				target.Reactions = append(target.Reactions, &waWeb.Reaction{
					Key: key, Text: r.Text, SenderTimestampMS: proto.Int64(int64(web.GetMessageTimestamp()) * 1000),
				})
			}
			continue
		}
		if p := msg.GetProtocolMessage(); p != nil && p.GetType() == waE2E.ProtocolMessage_REVOKE {
			if target := byID[p.GetKey().GetID()]; target != nil {
				target.Message = nil
				target.Reactions = nil
				target.MessageStubType = waWeb.WebMessageInfo_REVOKE.Enum()
			}
			continue
		} else if p != nil && p.GetType() != waE2E.ProtocolMessage_MESSAGE_EDIT {
			continue
		}
		byID[key.GetID()] = web
		conv := byChat[key.GetRemoteJID()]
		if conv == nil {
			chat, _ := types.ParseJID(key.GetRemoteJID())
			conv = &historyConversation{chat: chat, info: chatInfo[chat]}
			byChat[key.GetRemoteJID()] = conv
			convs = append(convs, conv)
		}
		conv.messages = append(conv.messages, web)
	}
	slices.SortStableFunc(convs, func(x, y *historyConversation) int {
		return int(int64(y.lastTimestamp()) - int64(x.lastTimestamp()))
	})
	return convs
}

// onlyKeyDistribution says msg carries nothing but a group's sender key: whatsmeow dispatches that
// part of a group message's pkmsg as an event of its own, which the phone does not keep.
func onlyKeyDistribution(msg *waE2E.Message) bool {
	content := proto.CloneOf(msg)
	content.SenderKeyDistributionMessage, content.MessageContextInfo = nil, nil
	return proto.Size(content) == 0
}

// webMessageInfo is the seeded message as the phone stores it.
func (m *HistoryMessage) webMessageInfo() *waWeb.WebMessageInfo {
	key := &waCommon.MessageKey{
		RemoteJID: proto.String(m.Chat.String()), FromMe: proto.Bool(m.FromMe), ID: proto.String(m.ID),
	}
	status := m.Status
	if status == 0 {
		status = waWeb.WebMessageInfo_READ
	}
	web := &waWeb.WebMessageInfo{
		Key: key, Message: m.Message, MessageTimestamp: proto.Uint64(uint64(m.Timestamp.Unix())), Status: status.Enum(),
	}
	if m.PushName != "" && !m.FromMe {
		web.PushName = proto.String(m.PushName)
	}
	if m.Chat.Server == types.GroupServer && !m.FromMe {
		key.Participant = proto.String(m.Sender.ToNonAD().String())
		web.Participant = key.Participant
	}
	return web
}

// HistoryMedia uploads an attachment through the phone, for the Message of a HistoryMessage (the
// phone's copy of a photo it sent or received).
func (a *Account) HistoryMedia(ctx context.Context, m Media) (*waE2E.Message, error) {
	phone := a.Phone()
	if phone == nil {
		return nil, fmt.Errorf("phone of %s is not online", a.pn.User)
	}
	return UploadMedia(ctx, phone.cli, m)
}
