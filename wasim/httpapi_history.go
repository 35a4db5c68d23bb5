package wasim

import (
	"encoding/base64"
	"net/http"
	"time"

	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// The control API of the phone's chat history (see history.go and historysync.go):
//
//	POST /_wasim/accounts/{phone}/history/seed  {chats, messages, days, number_prefix}  generate
//	     chats x messages text messages over the last days (SeedHistory); 200 {chats: [JID...]}
//	POST /_wasim/accounts/{phone}/history  {messages: [...]}  add explicit messages; 200 {ids}
//	     Each message: chat (phone or JID), from_me, sender (a group message's author), push_name,
//	     timestamp (RFC 3339), and one of: text (with optional reply_to: a message ID),
//	     react_to + reaction, edit_of + text, revoke (a message ID), or kind (image, ...) with
//	     data (base64), mime_type, caption. Messages in one request may refer to each other's
//	     given IDs ("id").
//	POST /_wasim/accounts/{phone}/history/chats {chat, name, archived, unread_count}  chat metadata
//	PUT  /_wasim/accounts/{phone}/history/options {disabled, bootstrap_chats, bootstrap_messages,
//	     recent_days, chunk_messages}  how the phone splits history for companions linked from now on

// addHistoryRoutes registers the history routes with the control API's route function.
func (s *Server) addHistoryRoutes(route func(string, func(*http.Request) (int, any, error)), prefix string) {
	route("POST "+prefix+"/accounts/{phone}/history/seed", s.apiSeedHistory)
	route("POST "+prefix+"/accounts/{phone}/history", s.apiAddHistory)
	route("POST "+prefix+"/accounts/{phone}/history/chats", s.apiHistoryChat)
	route("PUT "+prefix+"/accounts/{phone}/history/options", s.apiHistoryOptions)
}

func (s *Server) apiSeedHistory(r *http.Request) (int, any, error) {
	var req struct {
		Chats        int     `json:"chats"`
		Messages     int     `json:"messages"`
		Days         float64 `json:"days"`
		NumberPrefix string  `json:"number_prefix"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	chats, err := acct.SeedHistory(SeedOptions{
		Chats: req.Chats, Messages: req.Messages, NumberPrefix: req.NumberPrefix,
		Span: time.Duration(req.Days * float64(24*time.Hour)),
	})
	if err != nil {
		return 0, nil, badRequest("%v", err)
	}
	return http.StatusOK, map[string][]types.JID{"chats": chats}, nil
}

// apiHistoryMessage is one message of POST .../history.
type apiHistoryMessage struct {
	ID        string    `json:"id"`
	Chat      string    `json:"chat"`
	FromMe    bool      `json:"from_me"`
	Sender    string    `json:"sender"`
	PushName  string    `json:"push_name"`
	Timestamp time.Time `json:"timestamp"`
	Text      string    `json:"text"`
	ReplyTo   string    `json:"reply_to"`
	ReactTo   string    `json:"react_to"`
	Reaction  string    `json:"reaction"`
	EditOf    string    `json:"edit_of"`
	Revoke    string    `json:"revoke"`
	Kind      string    `json:"kind"`
	Data      string    `json:"data"`
	MimeType  string    `json:"mime_type"`
	Caption   string    `json:"caption"`
}

func (s *Server) apiAddHistory(r *http.Request) (int, any, error) {
	var req struct {
		Messages []apiHistoryMessage `json:"messages"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := controlContext(r)
	defer cancel()
	// Authors of the messages by ID, so reactions, edits and revocations can name their target's key.
	authors := map[string]apiHistoryMessage{}
	msgs := make([]HistoryMessage, len(req.Messages))
	for i, m := range req.Messages {
		chat, err := parseRecipient(m.Chat)
		if err != nil {
			return 0, nil, err
		}
		hm := HistoryMessage{Chat: chat, ID: m.ID, FromMe: m.FromMe, PushName: m.PushName, Timestamp: m.Timestamp}
		if hm.ID == "" {
			hm.ID = NewHistoryMessageID()
		}
		if m.Sender != "" {
			if hm.Sender, err = parseRecipient(m.Sender); err != nil {
				return 0, nil, err
			}
		}
		key := func(target string) *waCommon.MessageKey {
			t := authors[target]
			k := &waCommon.MessageKey{RemoteJID: proto.String(chat.String()), FromMe: proto.Bool(t.FromMe), ID: proto.String(target)}
			if t.Sender != "" {
				k.Participant = proto.String(t.Sender)
			}
			return k
		}
		switch {
		case m.ReactTo != "":
			hm.Message = &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{Key: key(m.ReactTo), Text: proto.String(m.Reaction)}}
		case m.EditOf != "":
			hm.Message = &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
				Type: waE2E.ProtocolMessage_MESSAGE_EDIT.Enum(), Key: key(m.EditOf), EditedMessage: &waE2E.Message{Conversation: proto.String(m.Text)},
			}}
		case m.Revoke != "":
			hm.Message = &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum(), Key: key(m.Revoke)}}
		case m.Kind != "":
			data, err := base64.StdEncoding.DecodeString(m.Data)
			if err != nil || !IsMediaKind(m.Kind) {
				return 0, nil, badRequest("message %d: kind needs a media kind and base64 data", i)
			}
			if hm.Message, err = acct.HistoryMedia(ctx, Media{Kind: m.Kind, Data: data, MimeType: m.MimeType, Caption: m.Caption}); err != nil {
				return 0, nil, err
			}
		case m.ReplyTo != "":
			t := authors[m.ReplyTo]
			participant := acct.JID().String()
			if !t.FromMe {
				participant = chat.String()
				if t.Sender != "" {
					participant = t.Sender
				}
			}
			hm.Message = &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
				Text: proto.String(m.Text), ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String(m.ReplyTo), Participant: proto.String(participant)},
			}}
		case m.Text != "":
			hm.Message = &waE2E.Message{Conversation: proto.String(m.Text)}
		}
		if !hm.Sender.IsEmpty() {
			m.Sender = hm.Sender.String()
		}
		authors[hm.ID] = m
		msgs[i] = hm
	}
	ids, err := acct.AddHistory(msgs...)
	if err != nil {
		return 0, nil, badRequest("%v", err)
	}
	return http.StatusOK, map[string][]types.MessageID{"ids": ids}, nil
}

func (s *Server) apiHistoryChat(r *http.Request) (int, any, error) {
	var req struct {
		Chat        string `json:"chat"`
		Name        string `json:"name"`
		Archived    bool   `json:"archived"`
		UnreadCount uint32 `json:"unread_count"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	chat, err := parseRecipient(req.Chat)
	if err != nil {
		return 0, nil, err
	}
	acct.SetHistoryChat(chat, HistoryChat{Name: req.Name, Archived: req.Archived, UnreadCount: req.UnreadCount})
	return http.StatusOK, struct{}{}, nil
}

func (s *Server) apiHistoryOptions(r *http.Request) (int, any, error) {
	var req struct {
		Disabled          bool    `json:"disabled"`
		BootstrapChats    int     `json:"bootstrap_chats"`
		BootstrapMessages int     `json:"bootstrap_messages"`
		RecentDays        float64 `json:"recent_days"`
		ChunkMessages     int     `json:"chunk_messages"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	acct.SetHistorySyncOptions(HistorySyncOptions{
		Disabled: req.Disabled, BootstrapChats: req.BootstrapChats, BootstrapMessages: req.BootstrapMessages,
		RecentWindow: time.Duration(req.RecentDays * float64(24*time.Hour)), ChunkMessages: req.ChunkMessages,
	})
	return http.StatusOK, struct{}{}, nil
}
