package wasim

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.mau.fi/libsignal/ecc"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waVnameCert"
	"google.golang.org/protobuf/proto"
)

// Business accounts. A WhatsApp Business account has a verified name: a VerifiedNameCertificate
// whose details carry the name, a serial and the issue time, signed by the account. WhatsApp sends
// it as a <verified_name> child of every message the business sends, and in the <business> part
// of usync answers (whatsmeow parseVerifiedNameContent). There is no separate notification of a
// change: companions see the new certificate on the next message or user query, and whatsmeow
// then stores the name and dispatches events.BusinessName (updateBusinessName).

// businessProfile is a business account's current verified name. Guarded by srv.stateLock.
type businessProfile struct {
	name   string
	serial uint64
	cert   []byte // marshalled waVnameCert.VerifiedNameCertificate
}

// SetBusinessName makes the account a business account with the given verified name, or changes
// its name: a new certificate (next serial) is issued, and the account's messages carry it from
// now on. name must not be empty.
func (a *Account) SetBusinessName(_ context.Context, name string) error {
	if name == "" {
		return fmt.Errorf("a business name must not be empty")
	}
	s := a.srv
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	serial := uint64(1)
	if a.business != nil {
		serial = a.business.serial + 1
	}
	details, err := proto.Marshal(&waVnameCert.VerifiedNameCertificate_Details{
		Serial:       proto.Uint64(serial),
		Issuer:       proto.String("smb:wa"),
		VerifiedName: proto.String(name),
		IssueTime:    proto.Uint64(uint64(time.Now().Unix())),
	})
	if err != nil {
		return fmt.Errorf("failed to encode verified name details: %w", err)
	}
	sig := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*a.identity.Priv), details)
	cert, err := proto.Marshal(&waVnameCert.VerifiedNameCertificate{Details: details, Signature: sig[:]})
	if err != nil {
		return fmt.Errorf("failed to encode verified name certificate: %w", err)
	}
	a.business = &businessProfile{name: name, serial: serial, cert: cert}
	return nil
}

// ClearBusinessName makes a business account an ordinary one again: its messages and usync
// answers carry no verified name from now on. WhatsApp sends no notice of it, and whatsmeow keeps
// the last name it saw (it only ever stores a name a certificate brought), so companions keep
// showing the old business name.
func (a *Account) ClearBusinessName() {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	a.business = nil
}

// BusinessName is the account's verified business name ("" for an ordinary account).
func (a *Account) BusinessName() string {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	if a.business == nil {
		return ""
	}
	return a.business.name
}

// verifiedNameNodeLocked is the account's <verified_name> node, and false for an ordinary
// account. Caller holds stateLock.
func (a *Account) verifiedNameNodeLocked() (waBinary.Node, bool) {
	if a.business == nil {
		return waBinary.Node{}, false
	}
	return waBinary.Node{Tag: "verified_name", Attrs: waBinary.Attrs{
		"v": "1", "serial": strconv.FormatUint(a.business.serial, 10), "verified_level": "unknown",
	}, Content: a.business.cert}, true
}

// businessNodeLocked is the <business> part of a usync answer for the account (empty for an
// ordinary or unknown account). Caller holds stateLock.
func businessNodeLocked(acct *Account) waBinary.Node {
	node := waBinary.Node{Tag: "business"}
	if acct != nil {
		if vn, ok := acct.verifiedNameNodeLocked(); ok {
			node.Content = []waBinary.Node{vn}
		}
	}
	return node
}
