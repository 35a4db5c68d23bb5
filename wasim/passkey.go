package wasim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waCompanionReg"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/gcmutil"
	"go.mau.fi/whatsmeow/util/hkdfutil"
	"go.mau.fi/whatsmeow/util/keys"
	"golang.org/x/crypto/curve25519"
	"google.golang.org/protobuf/proto"
)

// The passkey step of pairing (WhatsApp, 2026), as whatsmeow's pair-passkey.go drives it:
//
//  1. the phone scans the QR code; for an account that requires it the server, instead of
//     pair-success, sends <notification type="passkey_prologue_request"> with WebAuthn request
//     options (whatsmeow: events.PairPasskeyRequest, and a new adv secret on the client);
//  2. the client asks for <ref/>, then sends <passkey_prologue> with the user's WebAuthn assertion,
//     a prologue payload (its ephemeral key and a commitment to a nonce) and, within 5 minutes of
//     the request, a handoff proof keyed by the QR code's adv secret;
//  3. once the assertion verifies, the phone approves: <notification type="crsc_continuation">
//     carries the phone's ephemeral key and nonce; the client reveals its nonce (<companion_nonce>)
//     and derives a confirmation code (events.PairPasskeyConfirmation, automatic with a proof);
//  4. <encrypted_pairing_request> carries the client's keys and new adv secret, encrypted with the
//     shared key; pairing then ends as a QR pairing does (pair-success, then 515).

// passkeyPairing is a pairing waiting in the passkey step. Guarded by srv.stateLock.
type passkeyPairing struct {
	acct      *Account
	identity  [32]byte
	advSecret []byte // the QR code's, which keys the handoff proof
	challenge []byte
	ref       string
	// Set by a verified prologue.
	approved     bool
	ident        *waCompanionReg.CompanionEphemeralIdentity
	identBytes   []byte
	commitment   []byte
	phoneKey     *keys.KeyPair
	phoneNonce   []byte
	nonceChecked bool
}

// offerPasskeyLocked starts the passkey step on a registration socket whose QR code the phone
// of a has scanned. Caller holds stateLock.
func (s *Server) offerPasskeyLocked(c *conn, a *Account, identity [32]byte, advSecret []byte) (waBinary.Node, error) {
	reg := c.reg
	if reg == nil || reg.pairing || reg.passkey != nil {
		return waBinary.Node{}, fmt.Errorf("%w: client is already pairing", ErrUnknownRef)
	} else if reg.identity != identity {
		return waBinary.Node{}, fmt.Errorf("%w: identity key does not match the registration", ErrInvalidQR)
	}
	challenge := make([]byte, 32)
	_, _ = rand.Read(challenge)
	reg.passkey = &passkeyPairing{acct: a, identity: identity, advSecret: advSecret, challenge: challenge}
	return waBinary.Node{
		Tag:     "notification",
		Attrs:   waBinary.Attrs{"from": types.ServerJID, "type": "passkey_prologue_request", "id": s.nextID(), "t": nowString()},
		Content: []waBinary.Node{s.passkeyOptionsLocked(reg.passkey)},
	}, nil
}

// passkeyOptionsLocked renders the WebAuthn request options of a pending passkey step.
func (s *Server) passkeyOptionsLocked(p *passkeyPairing) waBinary.Node {
	opts, _ := json.Marshal(types.WebAuthnPublicKey{
		Challenge: p.challenge, Timeout: 300000, RelyingPartID: passkeyRPID, UserVerification: "required",
		AllowCredentials: []types.AllowedCredential{{ID: p.acct.policy.passkey.id, Type: "public-key", Transports: []string{"internal", "hybrid"}}},
	})
	return waBinary.Node{Tag: "passkey_request_options", Content: opts}
}

// handlePasskeyIQ answers the md IQs of the passkey step and reports whether child was one.
func (c *conn) handlePasskeyIQ(node, child *waBinary.Node) bool {
	s := c.srv
	s.stateLock.Lock()
	var p *passkeyPairing
	if c.reg != nil {
		p = c.reg.passkey
	}
	var answer waBinary.Node
	var err error
	after := func() {}
	switch child.Tag {
	case "ref", "passkey_request_options", "passkey_prologue", "companion_nonce", "encrypted_pairing_request":
		if p == nil {
			err = fmt.Errorf("%w: no passkey step in progress", ErrPasskeyRejected)
			break
		}
		answer, after, err = s.passkeyStepLocked(c, p, node, child)
	default:
		s.stateLock.Unlock()
		return false
	}
	s.stateLock.Unlock()
	if err != nil {
		c.log.Debug().Err(err).Str("step", child.Tag).Msg("Refusing passkey step")
		c.send(iqError(node, 401, "not-authorized"))
		return true
	}
	c.send(answer)
	after()
	return true
}

// passkeyStepLocked handles one IQ of the passkey step and returns its answer and what to do after
// sending it. Caller holds stateLock.
func (s *Server) passkeyStepLocked(c *conn, p *passkeyPairing, node, child *waBinary.Node) (waBinary.Node, func(), error) {
	none := func() {}
	switch child.Tag {
	case "ref":
		p.ref = randomRef()
		return iqResult(node, waBinary.Node{Tag: "ref", Content: []byte(p.ref)}), none, nil
	case "passkey_request_options":
		return iqResult(node, s.passkeyOptionsLocked(p)), none, nil
	case "passkey_prologue":
		cont, err := s.acceptPrologueLocked(p, child)
		if err != nil {
			return waBinary.Node{}, none, err
		}
		return iqResult(node), func() { c.send(cont) }, nil
	case "companion_nonce":
		sum := sha256.Sum256(concat(p.identBytes, bytesOf(*child)))
		if !p.approved || !hmac.Equal(sum[:], p.commitment) {
			return waBinary.Node{}, none, fmt.Errorf("%w: nonce does not match the commitment", ErrPasskeyRejected)
		}
		p.nonceChecked = true
		return iqResult(node), none, nil
	default: // encrypted_pairing_request
		req, err := s.openPairingRequestLocked(c, p, child)
		if err != nil {
			return waBinary.Node{}, none, err
		}
		c.reg.passkey = nil
		acct, identity := p.acct, p.identity
		return iqResult(node), func() {
			ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
			go func() {
				defer cancel()
				if err := s.pairDevice(ctx, acct, c, identity, req.GetAdvSecret()); err != nil {
					c.log.Warn().Err(err).Msg("Failed to finish passkey pairing")
				}
			}()
		}, nil
	}
}

// acceptPrologueLocked verifies a <passkey_prologue> and, the phone approving, returns the
// crsc_continuation notification to send. Caller holds stateLock.
func (s *Server) acceptPrologueLocked(p *passkeyPairing, child *waBinary.Node) (waBinary.Node, error) {
	if p.approved || p.ref == "" {
		return waBinary.Node{}, fmt.Errorf("%w: prologue out of order", ErrPasskeyRejected)
	}
	credID := bytesOf(child.GetChildByTag("credential_id"))
	if err := verifyAssertion(p.acct.policy.passkey, credID, bytesOf(child.GetChildByTag("webauthn_assertion")), p.challenge); err != nil {
		return waBinary.Node{}, err
	}
	payload := bytesOf(child.GetChildByTag("prologue_payload"))
	if proof, ok := child.GetOptionalChildByTag("pairing_handoff_proof"); ok {
		mac := hmac.New(sha256.New, hkdfutil.SHA256(p.advSecret, nil, []byte("shortcake-passkey-handoff-v1"), 32))
		mac.Write(payload)
		if !hmac.Equal(mac.Sum(nil), bytesOf(proof)) {
			return waBinary.Node{}, fmt.Errorf("%w: bad handoff proof", ErrPasskeyRejected)
		}
	}
	var prologue waCompanionReg.ProloguePayload
	var ident waCompanionReg.CompanionEphemeralIdentity
	if err := proto.Unmarshal(payload, &prologue); err != nil {
		return waBinary.Node{}, fmt.Errorf("%w: malformed prologue: %v", ErrPasskeyRejected, err)
	} else if err = proto.Unmarshal(prologue.GetCompanionEphemeralIdentity(), &ident); err != nil || len(ident.GetPublicKey()) != 32 {
		return waBinary.Node{}, fmt.Errorf("%w: malformed ephemeral identity", ErrPasskeyRejected)
	} else if ident.GetRef() != p.ref {
		return waBinary.Node{}, fmt.Errorf("%w: prologue for another ref", ErrPasskeyRejected)
	}
	p.approved = true
	p.ident, p.identBytes, p.commitment = &ident, prologue.GetCompanionEphemeralIdentity(), prologue.GetCommitment().GetHash()
	p.phoneKey = keys.NewKeyPair()
	p.phoneNonce = make([]byte, 32)
	_, _ = rand.Read(p.phoneNonce)
	primary, _ := proto.Marshal(&waCompanionReg.PrimaryEphemeralIdentity{PublicKey: p.phoneKey.Pub[:], Nonce: p.phoneNonce})
	return waBinary.Node{
		Tag:     "notification",
		Attrs:   waBinary.Attrs{"from": types.ServerJID, "type": "crsc_continuation", "id": s.nextID(), "t": nowString()},
		Content: []waBinary.Node{{Tag: "primary_ephemeral_identity", Content: primary}},
	}, nil
}

// openPairingRequestLocked decrypts the client's <encrypted_pairing_request> with the key both
// ephemeral keys share and checks it names the registering socket. Caller holds stateLock.
func (s *Server) openPairingRequestLocked(c *conn, p *passkeyPairing, child *waBinary.Node) (*waCompanionReg.PairingRequest, error) {
	if !p.nonceChecked {
		return nil, fmt.Errorf("%w: pairing request before the nonce", ErrPasskeyRejected)
	}
	shared, err := curve25519.X25519(p.phoneKey.Priv[:], p.ident.GetPublicKey())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasskeyRejected, err)
	}
	salt := fmt.Sprintf("Companion Pairing %d with ref %s", p.ident.GetDeviceType(), p.ref)
	key := hkdfutil.SHA256(shared, []byte(salt), []byte("Pairing Information Encryption Key"), 32)
	var wrapped waCompanionReg.EncryptedPairingRequest
	if err = proto.Unmarshal(bytesOf(*child), &wrapped); err != nil {
		return nil, fmt.Errorf("%w: malformed pairing request", ErrPasskeyRejected)
	}
	plain, err := gcmutil.Decrypt(key, wrapped.GetIV(), wrapped.GetEncryptedPayload(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: failed to decrypt pairing request: %v", ErrPasskeyRejected, err)
	}
	var req waCompanionReg.PairingRequest
	if err = proto.Unmarshal(plain, &req); err != nil {
		return nil, fmt.Errorf("%w: malformed pairing request", ErrPasskeyRejected)
	} else if !bytes.Equal(req.GetCompanionPublicKey(), c.clientStatic[:]) || !bytes.Equal(req.GetCompanionIdentityKey(), p.identity[:]) {
		return nil, fmt.Errorf("%w: pairing request for another device", ErrPasskeyRejected)
	}
	return &req, nil
}
