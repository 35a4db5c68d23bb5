package wasim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// Calls are signalling only: the simulator carries no media. A call is a <call> stanza with one
// child, the shapes whatsmeow's handleCallEvent (call.go) reads: <offer> rings a 1:1 call on every
// device of the callee (events.CallOffer), <offer_notice type="group"> tells group members about a
// group call (events.CallOfferNotice), <terminate reason> ends either (events.CallTerminate). Each
// stanza goes through the device's queue like a notification and is settled by the client's ack.

// Reasons a call can end with, in the terminate stanza's reason attribute.
const (
	// CallTimeout: nobody answered before the caller's phone gave up (a missed call).
	CallTimeout = "timeout"
	// CallHangUp: the caller hung up (before or after it was answered).
	CallHangUp = ""
)

// callCallerVersion is the app version call stanzas report for the simulated phones.
const callCallerVersion = "2.25.21.80"

// newCallID returns a call ID in WhatsApp's form: 32 upper-case hex digits.
func newCallID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// Call has the contact ring to (an account's phone-number or LID JID) with an audio call, or a video
// call with video set: every device of the callee gets an <offer>. It returns the call ID for
// EndCall. The call rings until EndCall; nothing answers it on its own.
func (c *Contact) Call(to types.JID, video bool) (string, error) {
	callID := newCallID()
	media := waBinary.Node{Tag: "audio", Attrs: waBinary.Attrs{"enc": "opus", "rate": "16000"}}
	if video {
		media = waBinary.Node{Tag: "video", Attrs: waBinary.Attrs{"enc": "vp8", "dec": "vp8"}}
	}
	err := c.sendCall(to, types.EmptyJID, func(callee *Account) waBinary.Node {
		return waBinary.Node{Tag: "offer", Attrs: c.callAttrs(callee, callID, types.EmptyJID), Content: []waBinary.Node{media}}
	})
	if err != nil {
		return "", err
	}
	return callID, nil
}

// CallGroup has the contact start a group call in group: every device of every other member gets
// an <offer_notice type="group">. It returns the call ID for EndGroupCall.
func (c *Contact) CallGroup(group types.JID, video bool) (string, error) {
	callID := newCallID()
	media := "audio"
	if video {
		media = "video"
	}
	err := c.sendCall(types.EmptyJID, group, func(callee *Account) waBinary.Node {
		attrs := c.callAttrs(callee, callID, group)
		attrs["media"], attrs["type"] = media, "group"
		return waBinary.Node{Tag: "offer_notice", Attrs: attrs}
	})
	if err != nil {
		return "", err
	}
	return callID, nil
}

// EndCall ends the contact's call with callID to a user (reason CallTimeout for a missed call,
// CallHangUp when the caller hung up): every device of the callee gets a <terminate>.
func (c *Contact) EndCall(to types.JID, callID, reason string) error {
	return c.sendCall(to, types.EmptyJID, c.terminate(callID, reason, types.EmptyJID))
}

// EndGroupCall ends the contact's group call with callID in group.
func (c *Contact) EndGroupCall(group types.JID, callID, reason string) error {
	return c.sendCall(types.EmptyJID, group, c.terminate(callID, reason, group))
}

// AnswerCall has the account's phone answer the call callID from caller (a phone-number or LID
// JID): as on WhatsApp, the account's other devices get an <accept> from the phone, so that they
// stop ringing (whatsmeow events.CallAccept). The call then runs on the phone until the caller ends
// it (EndCall with CallHangUp).
func (a *Account) AnswerCall(caller types.JID, callID string) error {
	return a.signalOwnDevices(caller, callID, "accept")
}

// DeclineCall has the account's phone decline the call callID from caller: the account's other
// devices get a <reject> from the phone (whatsmeow events.CallReject).
func (a *Account) DeclineCall(caller types.JID, callID string) error {
	return a.signalOwnDevices(caller, callID, "reject")
}

// signalOwnDevices queues a call stanza with child tag from the account's phone (device 0) to each
// of its companions.
func (a *Account) signalOwnDevices(caller types.JID, callID, tag string) error {
	s := a.srv
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	from := s.accountFor(caller.ToNonAD())
	if from == nil {
		return fmt.Errorf("%w: %s", ErrNoSuchAccount, caller)
	}
	attrs := callAttrs(from, callID, types.EmptyJID)
	for _, id := range a.sortedDeviceIDs() {
		if id == 0 {
			continue
		}
		s.enqueueLocked(a.devices[id], waBinary.Node{
			Tag: "call",
			Attrs: waBinary.Attrs{
				"from": deviceJID(a.pn, 0), "id": s.nextID(), "t": nowString(),
				"platform": "android", "version": callCallerVersion,
			},
			Content: []waBinary.Node{{Tag: tag, Attrs: attrs}},
		})
	}
	s.log.Info().Str("account", a.pn.User).Str("call_id", callID).Str("signal", tag).Msg("Call signalled to the account's devices")
	return nil
}

func (c *Contact) terminate(callID, reason string, group types.JID) func(*Account) waBinary.Node {
	return func(callee *Account) waBinary.Node {
		attrs := c.callAttrs(callee, callID, group)
		if reason != "" {
			attrs["reason"] = reason
		}
		return waBinary.Node{Tag: "terminate", Attrs: attrs}
	}
}

// callAttrs are the attributes every call child carries: the call ID, the caller's phone as
// call-creator in the callee's namespace (the LID) with its phone-number JID as caller_pn, and the
// group for group calls.
func (c *Contact) callAttrs(_ *Account, callID string, group types.JID) waBinary.Attrs {
	return callAttrs(c.acct, callID, group)
}

func callAttrs(caller *Account, callID string, group types.JID) waBinary.Attrs {
	attrs := waBinary.Attrs{
		"call-id":      callID,
		"call-creator": deviceJID(caller.lid, 0),
		"caller_pn":    deviceJID(caller.pn, 0),
	}
	if !group.IsEmpty() {
		attrs["group-jid"] = group
	}
	return attrs
}

// sendCall queues one call stanza for each device of the callee (to), or of every member of group
// but the caller. child builds the stanza's child for a callee account.
func (c *Contact) sendCall(to, group types.JID, child func(callee *Account) waBinary.Node) error {
	s := c.acct.srv
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	var callees []*Account
	if group.IsEmpty() {
		callee := s.accountFor(to.ToNonAD())
		if callee == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchAccount, to)
		}
		callees = []*Account{callee}
	} else {
		g := s.groupFor(group)
		if g == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchGroup, group)
		} else if g.member(c.acct) == nil {
			return fmt.Errorf("%w: %s", ErrNotInGroup, group)
		}
		for _, member := range groupMembersAccounts(g) {
			if member != c.acct {
				callees = append(callees, member)
			}
		}
	}
	for _, callee := range callees {
		node := child(callee)
		for _, id := range callee.sortedDeviceIDs() {
			s.enqueueLocked(callee.devices[id], waBinary.Node{
				Tag: "call",
				Attrs: waBinary.Attrs{
					"from": deviceJID(c.acct.lid, 0), "id": s.nextID(), "t": nowString(),
					"platform": "android", "version": callCallerVersion, "notify": c.acct.pushName,
				},
				Content: []waBinary.Node{node},
			})
		}
	}
	s.log.Info().Str("caller", c.acct.pn.User).Stringer("to", to).Stringer("group", group).Int("callees", len(callees)).Msg("Call signalled")
	return nil
}
