package wasim

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/whatsmeow"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// registration is what an unpaired client offered in its registration payload: its future Signal
// identity, and the QR refs the server handed it.
type registration struct {
	refs     []string
	regID    uint32
	identity [32]byte
	skey     preKey
	pairing  bool
	passkey  *passkeyPairing // set during the passkey step; see passkey.go
}

const refAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomRef() string {
	buf := make([]byte, 32)
	_, _ = rand.Read(buf)
	for i := range buf {
		buf[i] = refAlphabet[int(buf[i])%len(refAlphabet)]
	}
	return "2@" + string(buf)
}

// startRegistration records an unpaired client's keys and sends it six QR refs. The socket then
// stays open until a phone scans one of them or the client gives up.
func (c *conn) startRegistration() {
	data := c.payload.GetDevicePairingData()
	if len(data.GetERegid()) != 4 || len(data.GetEIdent()) != 32 || len(data.GetESkeyID()) != 3 ||
		len(data.GetESkeyVal()) != 32 || len(data.GetESkeySig()) != 64 {
		c.log.Warn().Msg("Registration payload is incomplete")
		c.close()
		return
	}
	reg := &registration{regID: binary.BigEndian.Uint32(data.GetERegid())}
	copy(reg.identity[:], data.GetEIdent())
	reg.skey.id = binary.BigEndian.Uint32(append([]byte{0}, data.GetESkeyID()...))
	copy(reg.skey.pub[:], data.GetESkeyVal())
	copy(reg.skey.sig[:], data.GetESkeySig())
	refNodes := make([]waBinary.Node, 6)
	for i := range refNodes {
		ref := randomRef()
		reg.refs = append(reg.refs, ref)
		refNodes[i] = waBinary.Node{Tag: "ref", Content: []byte(ref)}
	}
	s := c.srv
	s.stateLock.Lock()
	c.reg = reg
	for _, ref := range reg.refs {
		s.pendingRefs[ref] = c
	}
	s.stateLock.Unlock()
	c.send(waBinary.Node{
		Tag:     "iq",
		Attrs:   waBinary.Attrs{"from": types.ServerJID, "type": "set", "id": s.nextID(), "xmlns": "md"},
		Content: []waBinary.Node{{Tag: "pair-device", Content: refNodes}},
	})
}

// ScanQR has the account's phone scan a QR code shown by a whatsmeow client (the string from
// events.QR). It returns once the client has accepted the pairing; the client then reconnects and
// logs in on its own (wait for events.Connected on it). For an account that requires a passkey
// (SetRequirePasskey) it returns once the passkey step is offered to the client instead, and the
// pairing finishes when the client answers it (see passkey.go).
func (a *Account) ScanQR(ctx context.Context, qr string) error {
	_, fragment, ok := strings.Cut(qr, "#")
	if !ok {
		return ErrInvalidQR
	}
	parts := strings.Split(fragment, ",")
	if len(parts) < 4 {
		return ErrInvalidQR
	}
	noisePub, err1 := base64.StdEncoding.DecodeString(parts[1])
	identityPub, err2 := base64.StdEncoding.DecodeString(parts[2])
	advSecret, err3 := base64.StdEncoding.DecodeString(parts[3])
	if err := errors.Join(err1, err2, err3); err != nil || len(noisePub) != 32 || len(identityPub) != 32 {
		return ErrInvalidQR
	}
	s := a.srv
	s.stateLock.Lock()
	c := s.pendingRefs[parts[0]]
	s.stateLock.Unlock()
	if c == nil {
		return ErrUnknownRef
	} else if c.clientStatic != [32]byte(noisePub) {
		return fmt.Errorf("%w: noise key does not match the waiting socket", ErrInvalidQR)
	}
	s.stateLock.Lock()
	if a.policy.requirePasskey {
		offer, err := s.offerPasskeyLocked(c, a, [32]byte(identityPub), advSecret) // passkey.go
		s.stateLock.Unlock()
		if err == nil {
			c.send(offer)
		}
		return err
	}
	s.stateLock.Unlock()
	return s.pairDevice(ctx, a, c, [32]byte(identityPub), advSecret)
}

// makeDeviceIdentity signs a companion identity with the account key, as the phone does.
func makeDeviceIdentity(a *Account, keyIndex uint32, companionIdentity [32]byte) (*waAdv.ADVSignedDeviceIdentity, error) {
	var rawID [4]byte
	_, _ = rand.Read(rawID[:])
	details, err := proto.Marshal(&waAdv.ADVDeviceIdentity{
		RawID:       proto.Uint32(binary.BigEndian.Uint32(rawID[:])),
		Timestamp:   proto.Uint64(uint64(time.Now().Unix())),
		KeyIndex:    proto.Uint32(keyIndex),
		AccountType: waAdv.ADVEncryptionType_E2EE.Enum(),
		DeviceType:  waAdv.ADVEncryptionType_E2EE.Enum(),
	})
	if err != nil {
		return nil, err
	}
	msg := concat(whatsmeow.AdvAccountSignaturePrefix, details, companionIdentity[:])
	sig := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*a.identity.Priv), msg)
	return &waAdv.ADVSignedDeviceIdentity{
		Details:             details,
		AccountSignatureKey: a.identity.Pub[:],
		AccountSignature:    sig[:],
	}, nil
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// pairDevice finishes a pairing on the registration socket c: pair-success with the signed device
// identity, the client's pair-device-sign, registration of the device, then stream error 515 so the
// client reconnects and logs in.
func (s *Server) pairDevice(ctx context.Context, a *Account, c *conn, identity [32]byte, advSecret []byte) error {
	s.stateLock.Lock()
	reg := c.reg
	if reg == nil || reg.pairing {
		s.stateLock.Unlock()
		return fmt.Errorf("%w: client is already pairing", ErrUnknownRef)
	} else if reg.identity != identity {
		s.stateLock.Unlock()
		return fmt.Errorf("%w: identity key does not match the registration", ErrInvalidQR)
	}
	reg.pairing = true
	devID := a.nextDevice
	a.nextDevice++
	s.stateLock.Unlock()
	fail := func(err error) error {
		s.stateLock.Lock()
		reg.pairing = false
		s.stateLock.Unlock()
		return err
	}

	signed, err := makeDeviceIdentity(a, uint32(devID), identity)
	if err != nil {
		return fail(err)
	}
	signedBytes, err := proto.Marshal(signed)
	if err != nil {
		return fail(err)
	}
	mac := hmac.New(sha256.New, advSecret)
	mac.Write(signedBytes)
	container, err := proto.Marshal(&waAdv.ADVSignedDeviceIdentityHMAC{
		Details: signedBytes, HMAC: mac.Sum(nil), AccountType: waAdv.ADVEncryptionType_E2EE.Enum(),
	})
	if err != nil {
		return fail(err)
	}
	resp, err := c.request(ctx, waBinary.Node{
		Tag:   "iq",
		Attrs: waBinary.Attrs{"from": types.ServerJID, "type": "set", "id": s.nextID(), "t": nowString(), "xmlns": "md"},
		Content: []waBinary.Node{{Tag: "pair-success", Content: []waBinary.Node{
			{Tag: "device-identity", Content: container},
			{Tag: "platform", Attrs: waBinary.Attrs{"name": "android"}},
			{Tag: "device", Attrs: waBinary.Attrs{"jid": deviceJID(a.pn, devID), "lid": deviceJID(a.lid, devID)}},
		}}},
	})
	if err != nil {
		return fail(fmt.Errorf("failed to get pairing confirmation: %w", err))
	}
	if t, _ := resp.Attrs["type"].(string); t != "result" {
		errNode := resp.GetChildByTag("error")
		return fail(fmt.Errorf("client rejected pairing: %v %v", errNode.Attrs["code"], errNode.Attrs["text"]))
	}
	if err = verifyDeviceSign(resp, signed, identity); err != nil {
		return fail(err)
	}

	s.stateLock.Lock()
	dev := &device{id: devID, noisePub: c.clientStatic, regID: reg.regID, identity: identity, signedPreKey: reg.skey}
	for _, ref := range reg.refs {
		delete(s.pendingRefs, ref)
	}
	c.reg = nil
	s.registerDeviceLocked(a, dev)
	s.stateLock.Unlock()
	c.send(streamError("515", ""))
	s.log.Debug().Str("device", deviceJID(a.pn, devID).String()).Msg("Paired companion device")
	go s.afterLink(a, devID) // peer.go: the phone's first peer messages to its new companion
	return nil
}

// verifyDeviceSign checks the companion's signature in its pair-device-sign answer.
func verifyDeviceSign(resp *waBinary.Node, sent *waAdv.ADVSignedDeviceIdentity, identity [32]byte) error {
	content, _ := resp.GetChildByTag("pair-device-sign", "device-identity").Content.([]byte)
	var got waAdv.ADVSignedDeviceIdentity
	if err := proto.Unmarshal(content, &got); err != nil {
		return fmt.Errorf("failed to parse pair-device-sign: %w", err)
	} else if len(got.DeviceSignature) != 64 {
		return errors.New("pair-device-sign has no device signature")
	}
	msg := concat(whatsmeow.AdvDeviceSignaturePrefix, sent.Details, identity[:], sent.AccountSignatureKey)
	if !ecc.VerifySignature(ecc.NewDjbECPublicKey(identity), msg, [64]byte(got.DeviceSignature)) {
		return errors.New("invalid device signature in pair-device-sign")
	}
	return nil
}
