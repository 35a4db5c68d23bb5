package wasim

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/hkdfutil"
	"go.mau.fi/whatsmeow/util/keys"
	"golang.org/x/crypto/curve25519"
)

// pairCodeIterations is the PBKDF2 work factor whatsmeow uses to stretch the 8-character code.
const pairCodeIterations = 2 << 16

// pairCodeRequest is a client waiting for its pairing code to be entered on a phone.
type pairCodeRequest struct {
	conn       *conn
	ref        string
	wrappedEph []byte
	finish     chan pairCodeFinish
}

// pairCodeFinish is the companion's last step: its wrapped key bundle and identity.
type pairCodeFinish struct {
	bundle   []byte
	identity []byte
}

// handleLinkCodeIQ serves both stages of whatsmeow's PairPhone on a registration socket.
func (c *conn) handleLinkCodeIQ(node *waBinary.Node, reg *waBinary.Node) {
	s := c.srv
	stage, _ := reg.Attrs["stage"].(string)
	switch stage {
	case "companion_hello":
		jid, _ := reg.Attrs["jid"].(types.JID)
		wrapped := bytesOf(reg.GetChildByTag("link_code_pairing_wrapped_companion_ephemeral_pub"))
		authKey := bytesOf(reg.GetChildByTag("companion_server_auth_key_pub"))
		if len(wrapped) != 80 || !bytes.Equal(authKey, c.clientStatic[:]) {
			c.send(iqError(node, 400, "bad-request"))
			return
		}
		ref := randomRef()
		s.stateLock.Lock()
		if c.reg == nil || s.accounts[jid.User] == nil {
			s.stateLock.Unlock()
			c.send(iqError(node, 404, "item-not-found"))
			return
		}
		s.pendingCodes[jid.User] = &pairCodeRequest{conn: c, ref: ref, wrappedEph: wrapped, finish: make(chan pairCodeFinish, 1)}
		s.stateLock.Unlock()
		c.send(iqResult(node, waBinary.Node{Tag: "link_code_companion_reg", Content: []waBinary.Node{
			{Tag: "link_code_pairing_ref", Content: []byte(ref)},
		}}))
	case "companion_finish":
		ref := string(bytesOf(reg.GetChildByTag("link_code_pairing_ref")))
		s.stateLock.Lock()
		var req *pairCodeRequest
		for _, r := range s.pendingCodes {
			if r.conn == c && r.ref == ref {
				req = r
			}
		}
		s.stateLock.Unlock()
		if req == nil {
			c.send(iqError(node, 404, "item-not-found"))
			return
		}
		c.send(iqResult(node))
		select {
		case req.finish <- pairCodeFinish{
			bundle:   bytesOf(reg.GetChildByTag("link_code_pairing_wrapped_key_bundle")),
			identity: bytesOf(reg.GetChildByTag("companion_identity_public")),
		}:
		default:
		}
	default:
		c.send(iqError(node, 400, "bad-request"))
	}
}

func codeCipher(code string, salt, iv []byte) (cipher.Stream, error) {
	key, err := pbkdf2.Key(sha256.New, code, salt, pairCodeIterations, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewCTR(block, iv), nil
}

// EnterPairingCode has the account's phone accept the 8-character code ("ABCD-EFGH") that a
// whatsmeow client got from PairPhone for this account's number. It returns once the client
// accepted the pairing, or ErrWrongPairingCode.
func (a *Account) EnterPairingCode(ctx context.Context, code string) error {
	code = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(code), "-", ""))
	s := a.srv
	s.stateLock.Lock()
	req := s.pendingCodes[a.pn.User]
	s.stateLock.Unlock()
	if req == nil {
		return ErrNoPendingPairing
	}
	stream, err := codeCipher(code, req.wrappedEph[:32], req.wrappedEph[32:48])
	if err != nil {
		return err
	}
	companionEph := make([]byte, 32)
	stream.XORKeyStream(companionEph, req.wrappedEph[48:80])

	primaryEph := keys.NewKeyPair()
	wrapped := make([]byte, 80)
	_, _ = rand.Read(wrapped[:48])
	if stream, err = codeCipher(code, wrapped[:32], wrapped[32:48]); err != nil {
		return err
	}
	stream.XORKeyStream(wrapped[48:], primaryEph.Pub[:])
	req.conn.send(waBinary.Node{
		Tag:   "notification",
		Attrs: waBinary.Attrs{"from": types.ServerJID, "type": "link_code_companion_reg", "id": s.nextID(), "t": nowString()},
		Content: []waBinary.Node{{Tag: "link_code_companion_reg", Content: []waBinary.Node{
			{Tag: "link_code_pairing_ref", Content: []byte(req.ref)},
			{Tag: "link_code_pairing_wrapped_primary_ephemeral_pub", Content: wrapped},
			{Tag: "primary_identity_pub", Content: a.identity.Pub[:]},
		}}},
	})
	var fin pairCodeFinish
	select {
	case fin = <-req.finish:
	case <-ctx.Done():
		return ctx.Err()
	case <-req.conn.ctx.Done():
		return ErrConnectionClosed
	}
	if len(fin.bundle) < 32+12+16+96 {
		return fmt.Errorf("%w: short key bundle", ErrWrongPairingCode)
	}
	ephShared, err := curve25519.X25519(primaryEph.Priv[:], companionEph)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrWrongPairingCode, err)
	}
	bundleKey := hkdfutil.SHA256(ephShared, fin.bundle[:32], []byte("link_code_pairing_key_bundle_encryption_key"), 32)
	block, err := aes.NewCipher(bundleKey)
	if err != nil {
		return err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	plain, err := gcm.Open(nil, fin.bundle[32:44], fin.bundle[44:], nil)
	if err != nil || len(plain) != 96 {
		return ErrWrongPairingCode
	}
	companionIdentity, primaryIdentity, advRandom := plain[:32], plain[32:64], plain[64:96]
	if !bytes.Equal(primaryIdentity, a.identity.Pub[:]) || !bytes.Equal(companionIdentity, fin.identity) {
		return fmt.Errorf("%w: key bundle names other identities", ErrWrongPairingCode)
	}
	identShared, err := curve25519.X25519(a.identity.Priv[:], companionIdentity)
	if err != nil {
		return err
	}
	advSecret := hkdfutil.SHA256(concat(ephShared, identShared, advRandom), nil, []byte("adv_secret"), 32)
	s.stateLock.Lock()
	if s.pendingCodes[a.pn.User] == req {
		delete(s.pendingCodes, a.pn.User)
	}
	if a.policy.requirePasskey {
		// The passkey step follows a typed code as it follows a scanned QR code (passkey.go).
		offer, err := s.offerPasskeyLocked(req.conn, a, [32]byte(companionIdentity), advSecret)
		s.stateLock.Unlock()
		if err == nil {
			req.conn.send(offer)
		}
		return err
	}
	s.stateLock.Unlock()
	return s.pairDevice(ctx, a, req.conn, [32]byte(companionIdentity), advSecret)
}
