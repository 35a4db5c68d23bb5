package wasim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"go.mau.fi/whatsmeow/types"
)

// The WebAuthn side of the passkey step (see passkey.go): an account's passkey, the user's
// authenticator signing WhatsApp's challenge, and the server checking the assertion.

// passkeyRPID is the WebAuthn relying party of WhatsApp passkeys.
const passkeyRPID = "whatsapp.com"

// passkeyOrigin is the origin a browser reports in clientDataJSON.
const passkeyOrigin = "https://web.whatsapp.com"

// ErrPasskeyRejected means a WebAuthn assertion or a step of the passkey exchange did not verify.
var ErrPasskeyRejected = errors.New("passkey rejected")

// passkeyCredential is an account's passkey: an ECDSA P-256 key the user's authenticator holds.
type passkeyCredential struct {
	id  []byte
	key *ecdsa.PrivateKey
}

// SetRequirePasskey makes pairings of this account go through the passkey step (passkey.go);
// the account gets a passkey the first time. Off by default.
func (a *Account) SetRequirePasskey(on bool) error {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	a.policy.requirePasskey = on
	if on && a.policy.passkey == nil {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("failed to generate passkey: %w", err)
		}
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		a.policy.passkey = &passkeyCredential{id: id, key: key}
	}
	return nil
}

// AssertPasskey is the user's authenticator: it signs the WebAuthn challenge in opts (the
// PublicKey of whatsmeow's events.PairPasskeyRequest) with the account's passkey and returns the
// assertion to pass to whatsmeow's SendPasskeyResponse.
func (a *Account) AssertPasskey(opts *types.WebAuthnPublicKey) (*types.WebAuthnResponse, error) {
	a.srv.stateLock.Lock()
	cred := a.policy.passkey
	a.srv.stateLock.Unlock()
	if cred == nil {
		return nil, fmt.Errorf("%w: the account has no passkey", ErrPasskeyRejected)
	} else if opts == nil || opts.RelyingPartID != passkeyRPID {
		return nil, fmt.Errorf("%w: the request is not for %s", ErrPasskeyRejected, passkeyRPID)
	}
	clientData, _ := json.Marshal(map[string]string{
		"type": "webauthn.get", "challenge": base64.RawURLEncoding.EncodeToString(opts.Challenge), "origin": passkeyOrigin,
	})
	rpHash := sha256.Sum256([]byte(passkeyRPID))
	authData := append(rpHash[:], 0x05, 0, 0, 0, 1) // user present + verified, counter 1
	sig, err := ecdsa.SignASN1(rand.Reader, cred.key, assertionDigest(authData, clientData))
	if err != nil {
		return nil, fmt.Errorf("failed to sign passkey assertion: %w", err)
	}
	resp := &types.WebAuthnResponse{Type: "public-key", RawID: cred.id}
	resp.ID = base64.RawURLEncoding.EncodeToString(cred.id)
	resp.Response.ClientDataJSON = clientData
	resp.Response.AuthenticatorData = authData
	resp.Response.Signature = sig
	return resp, nil
}

func assertionDigest(authData, clientData []byte) []byte {
	clientHash := sha256.Sum256(clientData)
	sum := sha256.Sum256(concat(authData, clientHash[:]))
	return sum[:]
}

// verifyAssertion checks a WebAuthn assertion against the credential and the expected challenge.
func verifyAssertion(cred *passkeyCredential, credID, raw, challenge []byte) error {
	var resp types.WebAuthnResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return fmt.Errorf("%w: malformed assertion: %v", ErrPasskeyRejected, err)
	}
	var clientData struct {
		Type      string `json:"type"`
		Challenge string `json:"challenge"`
	}
	if err := json.Unmarshal(resp.Response.ClientDataJSON, &clientData); err != nil {
		return fmt.Errorf("%w: malformed client data: %v", ErrPasskeyRejected, err)
	}
	rpHash := sha256.Sum256([]byte(passkeyRPID))
	authData := resp.Response.AuthenticatorData
	switch {
	case !bytes.Equal(credID, cred.id) || !bytes.Equal(resp.RawID, cred.id):
		return fmt.Errorf("%w: unknown credential", ErrPasskeyRejected)
	case clientData.Type != "webauthn.get" || clientData.Challenge != base64.RawURLEncoding.EncodeToString(challenge):
		return fmt.Errorf("%w: wrong challenge", ErrPasskeyRejected)
	case len(authData) < 37 || !bytes.Equal(authData[:32], rpHash[:]) || authData[32]&0x01 == 0:
		return fmt.Errorf("%w: bad authenticator data", ErrPasskeyRejected)
	case !ecdsa.VerifyASN1(&cred.key.PublicKey, assertionDigest(authData, resp.Response.ClientDataJSON), resp.Response.Signature):
		return fmt.Errorf("%w: bad signature", ErrPasskeyRejected)
	}
	return nil
}
