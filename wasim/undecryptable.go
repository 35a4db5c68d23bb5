package wasim

import (
	"bytes"
	"fmt"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// UndecryptableKind says how a message reaches a device that cannot decrypt it.
type UndecryptableKind string

// The ways a message can be undecryptable, as whatsmeow's decryptMessages (message.go) tells them
// apart.
const (
	// Unavailable delivers the message without ciphertext, as an <unavailable/> child: the sender
	// did not encrypt it for the device. whatsmeow raises events.UndecryptableMessage with
	// IsUnavailable and asks the account's phone for the message at once.
	Unavailable UndecryptableKind = "unavailable"
	// Corrupted delivers ciphertext whose last byte (inside the Signal MAC) is altered, so
	// decryption fails: whatsmeow raises events.UndecryptableMessage, sends the sender a retry
	// receipt and (with SynchronousAck) asks the account's phone for the message.
	Corrupted UndecryptableKind = "corrupted"
)

// Undecryptable describes a fault armed with Account.BreakNextMessage.
type Undecryptable struct {
	Kind UndecryptableKind
	// Phone breaks the phone's copy too, so the phone has nothing to answer a placeholder resend
	// request with; only the sender's resend (after a retry receipt) can deliver the message then.
	Phone bool
	// SenderOffline drops the retry receipts for the broken message, as for a sender whose phone
	// stays offline: the sender never resends it.
	SenderOffline bool
}

// breakFault is an armed Undecryptable. id is the message it hit (set by the first copy broken),
// broken the devices whose first copy of it was broken; resends to them pass untouched.
type breakFault struct {
	Undecryptable
	id     string
	broken map[uint16]bool
}

// BreakNextMessage makes the next message from the account of from (a phone, LID or group member
// JID; groups included) reach this account's companions undecryptably, and with u.Phone its phone
// too. Only the first copy to each device is broken: a resend after a retry receipt decrypts.
// Later messages pass untouched; arming again replaces the fault.
func (a *Account) BreakNextMessage(from types.JID, u Undecryptable) error {
	if u.Kind != Unavailable && u.Kind != Corrupted {
		return fmt.Errorf("unknown undecryptable kind %q (unavailable, corrupted)", u.Kind)
	}
	s := a.srv
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	sender := s.accountFor(from.ToNonAD())
	if sender == nil {
		return fmt.Errorf("%w: %s", ErrNoSuchAccount, from)
	}
	if a.breaks == nil {
		a.breaks = make(map[*Account]*breakFault)
	}
	a.breaks[sender] = &breakFault{Undecryptable: u, broken: make(map[uint16]bool)}
	s.log.Info().Str("account", a.pn.User).Str("sender", sender.pn.User).Str("kind", string(u.Kind)).
		Bool("phone", u.Phone).Bool("sender_offline", u.SenderOffline).Msg("Next message will be undecryptable")
	return nil
}

// undecryptableLocked returns the copy of a stanza dev is to get, and false when it is not to be
// delivered at all. A message is broken by an armed fault of dev's account for its sender (peer
// messages never are); a retry receipt for a broken message of a SenderOffline fault is dropped, as
// it would sit forever in the queue of a phone that never comes back. Caller holds stateLock.
func (s *Server) undecryptableLocked(dev *device, node waBinary.Node) (waBinary.Node, bool) {
	id, _ := node.Attrs["id"].(string)
	if node.Tag == "receipt" && node.Attrs["type"] == "retry" {
		from, _ := node.Attrs["from"].(types.JID)
		if reader := s.accountFor(from.ToNonAD()); reader != nil {
			if fault := reader.breaks[dev.acct]; fault != nil && fault.SenderOffline && fault.id == id {
				s.log.Info().Str("id", id).Msg("Dropping retry receipt: the sender stays offline")
				return node, false
			}
		}
		return node, true
	}
	acct := dev.acct
	if node.Tag != "message" || len(acct.breaks) == 0 || node.Attrs["category"] == "peer" {
		return node, true
	}
	from, ok := node.Attrs["participant"].(types.JID)
	if !ok {
		from, _ = node.Attrs["from"].(types.JID)
	}
	fault := acct.breaks[s.accountFor(from.ToNonAD())]
	if fault == nil || (dev.id == 0 && !fault.Phone) {
		return node, true
	}
	if fault.id == "" {
		fault.id = id
	}
	if fault.id != id || fault.broken[dev.id] {
		return node, true
	}
	fault.broken[dev.id] = true
	s.log.Info().Str("id", id).Uint16("device", dev.id).Str("kind", string(fault.Kind)).Msg("Delivering message undecryptably")
	return breakStanza(node, fault.Kind), true
}

// breakStanza returns a copy of a message stanza without its ciphertext (Unavailable) or with each
// ciphertext's last byte flipped (Corrupted).
func breakStanza(node waBinary.Node, kind UndecryptableKind) waBinary.Node {
	out := waBinary.Node{Tag: node.Tag, Attrs: node.Attrs}
	var children []waBinary.Node
	for _, child := range node.GetChildren() {
		switch {
		case child.Tag == "enc" && kind == Unavailable, child.Tag == "device-identity" && kind == Unavailable:
			continue
		case child.Tag == "enc":
			data, _ := child.Content.([]byte)
			if len(data) > 0 {
				data = bytes.Clone(data)
				data[len(data)-1] ^= 0xff
			}
			child = waBinary.Node{Tag: child.Tag, Attrs: child.Attrs, Content: data}
		}
		children = append(children, child)
	}
	if kind == Unavailable {
		children = append(children, waBinary.Node{Tag: "unavailable"})
	}
	out.Content = children
	return out
}
