package wasim

import (
	"fmt"
	"net/http"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// A hold stalls the messages sent to one chat, as a WhatsApp server that is slow to accept them
// would: a held message is neither delivered nor acknowledged, so the sender's SendMessage waits
// (whatsmeow gives up after its request timeout, 75 s, and a resend with the same ID is then held
// too). Other chats, and everything else on the same connection, carry on. On release the held
// messages are handled in the order they were sent, as if they had just arrived: delivered and
// acknowledged, a resend of an already delivered ID acknowledged only. Messages whose connection
// closed meanwhile are dropped; their sender has already seen the send fail.

// heldMessage is a message stanza a hold keeps back, with the connection it came in on.
type heldMessage struct {
	conn *conn
	node *waBinary.Node
}

// holdKeyLocked names the chat a hold applies to: the account's phone number for a user JID in
// either namespace (PN or LID), or the group. Caller holds stateLock.
func (s *Server) holdKeyLocked(chat types.JID) (string, error) {
	chat = chat.ToNonAD()
	if chat.Server == types.GroupServer {
		if s.groupFor(chat) == nil {
			return "", fmt.Errorf("%w: %s", ErrNoSuchGroup, chat)
		}
		return chat.String(), nil
	}
	acct := s.accountFor(chat)
	if acct == nil {
		return "", fmt.Errorf("%w: %s", ErrNoSuchAccount, chat)
	}
	return acct.pn.String(), nil
}

// HoldMessages starts holding the messages any device sends to chat (a user JID, PN or LID, or a
// group JID) until ReleaseMessages. Holding a chat that is already held changes nothing.
func (s *Server) HoldMessages(chat types.JID) error {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	key, err := s.holdKeyLocked(chat)
	if err != nil {
		return err
	}
	if s.holds == nil {
		s.holds = make(map[string][]heldMessage)
	}
	if _, ok := s.holds[key]; !ok {
		s.holds[key] = []heldMessage{}
	}
	s.log.Info().Str("chat", key).Msg("Holding messages")
	return nil
}

// HeldMessages returns how many messages to chat are held right now.
func (s *Server) HeldMessages(chat types.JID) (int, error) {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	key, err := s.holdKeyLocked(chat)
	if err != nil {
		return 0, err
	}
	return len(s.holds[key]), nil
}

// ReleaseMessages ends the hold on chat and handles the held messages in order. It returns how
// many were handled (dropped ones not counted). Messages sent to chat while the release runs are
// handled after the held ones, so their order is kept. Releasing a chat that is not held does
// nothing.
func (s *Server) ReleaseMessages(chat types.JID) (int, error) {
	s.releaseLock.Lock()
	defer s.releaseLock.Unlock()
	released := 0
	for {
		s.stateLock.Lock()
		key, err := s.holdKeyLocked(chat)
		if err != nil {
			s.stateLock.Unlock()
			return released, err
		}
		batch, held := s.holds[key]
		if !held || len(batch) == 0 {
			delete(s.holds, key)
			s.stateLock.Unlock()
			if held {
				s.log.Info().Str("chat", key).Int("released", released).Msg("Released held messages")
			}
			return released, nil
		}
		s.holds[key] = []heldMessage{}
		s.stateLock.Unlock()
		for _, msg := range batch {
			if msg.conn.ctx.Err() == nil {
				msg.conn.routeMessage(msg.node)
				released++
			}
		}
	}
}

// holdMessage keeps node back if its chat is held and reports whether it did.
func (s *Server) holdMessage(c *conn, node *waBinary.Node, to types.JID) bool {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	if len(s.holds) == 0 {
		return false
	}
	key, err := s.holdKeyLocked(to)
	if err != nil {
		return false
	}
	held, ok := s.holds[key]
	if !ok {
		return false
	}
	s.holds[key] = append(held, heldMessage{conn: c, node: node})
	return true
}

// holdRequest is the body of the hold and release control requests.
type holdRequest struct {
	Chat string `json:"chat"`
}

func (s *Server) parseHoldRequest(r *http.Request) (types.JID, error) {
	var req holdRequest
	if r.Method == http.MethodGet {
		req.Chat = r.URL.Query().Get("chat")
	} else if err := decodeBody(r, &req); err != nil {
		return types.JID{}, err
	}
	if err := required("chat", req.Chat); err != nil {
		return types.JID{}, err
	}
	return parseRecipient(req.Chat)
}

// apiHold starts holding the messages sent to a chat.
func (s *Server) apiHold(r *http.Request) (int, any, error) {
	chat, err := s.parseHoldRequest(r)
	if err != nil {
		return 0, nil, err
	}
	if err = s.HoldMessages(chat); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"chat": chat.String(), "held": true}, nil
}

// apiHeld reports how many messages to a chat are held.
func (s *Server) apiHeld(r *http.Request) (int, any, error) {
	chat, err := s.parseHoldRequest(r)
	if err != nil {
		return 0, nil, err
	}
	n, err := s.HeldMessages(chat)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"chat": chat.String(), "messages": n}, nil
}

// apiRelease ends a hold and handles the held messages.
func (s *Server) apiRelease(r *http.Request) (int, any, error) {
	chat, err := s.parseHoldRequest(r)
	if err != nil {
		return 0, nil, err
	}
	n, err := s.ReleaseMessages(chat)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"chat": chat.String(), "released": n}, nil
}
