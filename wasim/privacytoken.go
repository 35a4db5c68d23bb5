package wasim

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// ReachoutTimelockCode is the ack error WhatsApp gives a direct message to an account that only
// accepts first messages from people it has talked to or trusted with a privacy token. whatsmeow's
// SendMessage returns it as ErrServerReturnedError followed by the number (send.go).
const ReachoutTimelockCode = "463"

// accountPolicy is an account's rules for direct messages from strangers and the privacy tokens
// it issued. The zero value accepts everyone. Guarded by srv.stateLock.
type accountPolicy struct {
	// requireToken refuses a first message from an account with no prior conversation unless it
	// carries a token this account issued (<tctoken>).
	requireToken bool
	// talked holds the accounts this account has exchanged a direct message with.
	talked map[*Account]bool
	// issued holds the trusted_contact token this account issued to each other account.
	issued map[*Account][]byte
	// requirePasskey sends pairings through the passkey step with the passkey; see passkey.go.
	requirePasskey bool
	passkey        *passkeyCredential
}

// SetRequirePrivacyToken makes the account refuse, with ack error 463, a direct message from an
// account it never talked with unless the message carries a privacy token the account issued to
// the sender (as WhatsApp does for new contacts of restricted accounts). Off by default.
func (a *Account) SetRequirePrivacyToken(on bool) {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	a.policy.requireToken = on
}

// IssuePrivacyToken has the account trust to: a new trusted_contact token is sent to every device
// of to in a <notification type="privacy_token"> (parsed by whatsmeow's
// handlePrivacyTokenNotification), and whatsmeow attaches it as <tctoken> to its next message to
// this account. Queued for offline devices like any notification.
func (a *Account) IssuePrivacyToken(_ context.Context, to *Account) error {
	if to == nil || to == a {
		return fmt.Errorf("cannot issue a privacy token to %v", to)
	}
	s := a.srv
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	s.issuePrivacyTokenLocked(a, to)
	return nil
}

// issuePrivacyTokenLocked makes a new token from issuer to holder and notifies the holder's
// devices. Caller holds stateLock.
func (s *Server) issuePrivacyTokenLocked(issuer, holder *Account) {
	token := make([]byte, 24)
	_, _ = rand.Read(token)
	if issuer.policy.issued == nil {
		issuer.policy.issued = make(map[*Account][]byte)
	}
	issuer.policy.issued[holder] = token
	t := nowString()
	for _, dev := range holder.devices {
		s.enqueueLocked(dev, waBinary.Node{
			Tag: "notification",
			Attrs: waBinary.Attrs{
				"from": issuer.pn, "sender_lid": issuer.lid, "type": "privacy_token", "id": s.nextID(), "t": t,
			},
			Content: []waBinary.Node{{Tag: "tokens", Content: []waBinary.Node{{
				Tag: "token", Attrs: waBinary.Attrs{"type": "trusted_contact", "t": t}, Content: token,
			}}}},
		})
	}
}

// handlePrivacyTokensIQ answers <iq xmlns="privacy" type="set"><tokens><token jid t
// type="trusted_contact"/></tokens></iq>, which whatsmeow sends after a message
// (issuePrivacyToken in tctoken.go): the sender trusts each listed account, which gets a token.
// It reports whether the IQ was a token IQ.
func (c *conn) handlePrivacyTokensIQ(node *waBinary.Node) bool {
	tokens, ok := node.GetOptionalChildByTag("tokens")
	if !ok {
		return false
	}
	s := c.srv
	s.stateLock.Lock()
	if dev := c.dev; dev != nil {
		for _, child := range tokens.GetChildren() {
			jid, _ := child.Attrs["jid"].(types.JID)
			if holder := s.accountFor(jid); child.Tag == "token" && holder != nil && holder != dev.acct {
				s.issuePrivacyTokenLocked(dev.acct, holder)
			}
		}
	}
	s.stateLock.Unlock()
	c.send(iqResult(node))
	return true
}

// refuseDirectLocked decides whether a direct message from sender to the user JID to is refused
// and returns the ack error code, or "" to deliver it. A message to an account that requires
// privacy tokens passes only after a prior conversation or with the token that account issued to
// the sender. Caller holds stateLock.
func (s *Server) refuseDirectLocked(sender *Account, to types.JID, node *waBinary.Node) string {
	rcpt := s.accountFor(to)
	if rcpt == nil || rcpt == sender || !rcpt.policy.requireToken || rcpt.policy.talked[sender] {
		return ""
	}
	if tok, ok := node.GetOptionalChildByTag("tctoken"); ok {
		if issued := rcpt.policy.issued[sender]; issued != nil && bytes.Equal(bytesOf(tok), issued) {
			return ""
		}
	}
	return ReachoutTimelockCode
}

// noteConversationLocked records that a and b exchanged a direct message. Caller holds stateLock.
func noteConversationLocked(a, b *Account) {
	if a == nil || b == nil || a == b {
		return
	}
	for _, pair := range [][2]*Account{{a, b}, {b, a}} {
		if pair[0].policy.talked == nil {
			pair[0].policy.talked = make(map[*Account]bool)
		}
		pair[0].policy.talked[pair[1]] = true
	}
}

// refusalAck is the ack of a refused message.
func refusalAck(id string, to types.JID, code string) waBinary.Node {
	return waBinary.Node{Tag: "ack", Attrs: waBinary.Attrs{
		"class": "message", "id": id, "from": to, "t": nowString(), "error": code,
	}}
}
