package wasim

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/keys/prekey"
	"go.mau.fi/libsignal/session"
	"go.mau.fi/libsignal/util/optional"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// The phone's peer channel: protocol messages the primary phone (device 0) sends to the account's
// own companions, encrypted with the phone's Signal session to each companion, as category="peer"
// messages (whatsmeow sendPeerMessage on the sending side, handleProtocolMessage on the receiving
// side). Right after a companion links, the phone shares its app state key this way; whatsmeow
// then fetches every app state collection (handleAppStateSyncKeyShare).

// peerSendTimeout bounds the phone's work for one peer message after a link.
const peerSendTimeout = 30 * time.Second

// phonePeer is the phone's app state key and the lock that keeps its app state writes in order.
type phonePeer struct {
	lock sync.Mutex             // held across a whole app state write, so versions follow each other
	key  *waE2E.AppStateSyncKey // nil until the phone made its key
	// initialized says the phone wrote its initial app state (see writeInitialAppStateLocked).
	initialized bool
}

// SendPeer has the account's phone send msg (a protocol message) to its companion deviceID as a peer
// message, establishing a Signal session from the companion's prekey bundle first if the phone has
// none. It returns the message ID once the server accepted the message; the companion gets it when
// it is online.
func (a *Account) SendPeer(ctx context.Context, deviceID uint16, msg *waE2E.Message) (types.MessageID, error) {
	phone := a.Phone()
	if phone == nil {
		return "", fmt.Errorf("phone of %s is not online", a.pn.User)
	} else if deviceID == 0 {
		return "", fmt.Errorf("the phone does not send peer messages to itself")
	}
	to := deviceJID(a.lid, deviceID)
	if err := phone.ensureSession(ctx, to); err != nil {
		return "", err
	}
	resp, err := sendMessage(ctx, phone.cli, to, msg, whatsmeow.SendRequestExtra{Peer: true})
	if err != nil {
		return "", fmt.Errorf("failed to send peer message to %s: %w", to, err)
	}
	return resp.ID, nil
}

// ensureSession builds a Signal session with the device from its prekey bundle if there is none. The
// bundle is what the server hands out for a key fetch (prekeys.go), taken here without the IQ
// round trip: whatsmeow offers no public call that fetches a bundle without sending a message.
func (c *Contact) ensureSession(ctx context.Context, to types.JID) error {
	has, err := c.cli.Store.ContainsSession(ctx, to.SignalAddress())
	if err != nil {
		return fmt.Errorf("failed to check session with %s: %w", to, err)
	} else if has {
		return nil
	}
	bundle, err := c.acct.srv.preKeyBundle(to)
	if err != nil {
		return err
	}
	builder := session.NewBuilderFromSignal(c.cli.Store, to.SignalAddress(), store.SignalProtobufSerializer)
	if err = builder.ProcessBundle(ctx, bundle); err != nil {
		return fmt.Errorf("failed to process prekey bundle of %s: %w", to, err)
	}
	return nil
}

// appStateKeyLocked returns the phone's app state sync key, making and storing it in the phone's
// store on first use (a 6-byte key ID, 32 random bytes of key data, a fingerprint naming the phone
// as device index 0). Caller holds a.peer.lock.
func (a *Account) appStateKeyLocked(ctx context.Context) (*waE2E.AppStateSyncKey, error) {
	if a.peer.key != nil {
		return a.peer.key, nil
	}
	phone := a.Phone()
	if phone == nil {
		return nil, fmt.Errorf("phone of %s is not online", a.pn.User)
	}
	keyID := make([]byte, 6)
	_, _ = rand.Read(keyID[4:])
	data := make([]byte, 32)
	_, _ = rand.Read(data)
	var raw [4]byte
	_, _ = rand.Read(raw[:])
	fingerprint := &waE2E.AppStateSyncKeyFingerprint{
		RawID: proto.Uint32(binary.BigEndian.Uint32(raw[:])), CurrentIndex: proto.Uint32(0), DeviceIndexes: []uint32{0},
	}
	fpBytes, err := proto.Marshal(fingerprint)
	if err != nil {
		return nil, fmt.Errorf("failed to marshal key fingerprint: %w", err)
	}
	ts := time.Now().UnixMilli()
	if err = phone.cli.Store.AppStateKeys.PutAppStateSyncKey(ctx, keyID, store.AppStateSyncKey{
		Data: data, Fingerprint: fpBytes, Timestamp: ts,
	}); err != nil {
		return nil, fmt.Errorf("failed to store app state key: %w", err)
	}
	a.peer.key = &waE2E.AppStateSyncKey{
		KeyID:   &waE2E.AppStateSyncKeyId{KeyID: keyID},
		KeyData: &waE2E.AppStateSyncKeyData{KeyData: data, Fingerprint: fingerprint, Timestamp: proto.Int64(ts)},
	}
	return a.peer.key, nil
}

// ShareAppStateKey has the phone send its app state key to the companion deviceID
// (APP_STATE_SYNC_KEY_SHARE), as real phones do right after a link. whatsmeow stores the key and
// fetches every collection.
//
// The share goes out before the phone's initial app state is written, so that the companion has
// the key before it hears of any patch.
func (a *Account) ShareAppStateKey(ctx context.Context, deviceID uint16) error {
	a.peer.lock.Lock()
	defer a.peer.lock.Unlock()
	key, err := a.appStateKeyLocked(ctx)
	if err != nil {
		return err
	}
	_, err = a.SendPeer(ctx, deviceID, &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
		Type:                 waE2E.ProtocolMessage_APP_STATE_SYNC_KEY_SHARE.Enum(),
		AppStateSyncKeyShare: &waE2E.AppStateSyncKeyShare{Keys: []*waE2E.AppStateSyncKey{key}},
	}})
	if err != nil {
		return err
	}
	return a.writeInitialAppStateLocked(ctx)
}

// preKeyBundle hands out the device's prekey bundle as a key fetch does: identity, signed prekey
// and (while there are any) one unused one-time prekey, which is consumed.
func (s *Server) preKeyBundle(to types.JID) (*prekey.Bundle, error) {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	var dev *device
	if acct := s.accountFor(to); acct != nil {
		dev = acct.devices[to.Device]
	}
	if dev == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchDevice, to)
	}
	identityKey := identity.NewKey(ecc.NewDjbECPublicKey(dev.identity))
	signed := ecc.NewDjbECPublicKey(dev.signedPreKey.pub)
	k, ok := dev.takePreKey()
	if !ok {
		return prekey.NewBundle(dev.regID, uint32(to.Device), optional.NewEmptyUint32(), dev.signedPreKey.id,
			nil, signed, dev.signedPreKey.sig, identityKey), nil
	}
	return prekey.NewBundle(dev.regID, uint32(to.Device), optional.NewOptionalUint32(k.id), dev.signedPreKey.id,
		ecc.NewDjbECPublicKey(k.pub), signed, dev.signedPreKey.sig, identityKey), nil
}

// afterLink is what the phone does right after a companion linked, in the background: it shares
// its app state key, then sends its chat history (historysync.go). Failures are logged; the
// companion then simply has no app state or history.
func (s *Server) afterLink(a *Account, deviceID uint16) {
	log := s.log.With().Str("device", deviceJID(a.pn, deviceID).String()).Logger()
	ctx, cancel := context.WithTimeout(context.Background(), peerSendTimeout)
	defer cancel()
	if err := a.ShareAppStateKey(ctx, deviceID); err != nil {
		log.Warn().Err(err).Msg("Phone failed to share its app state key")
		return
	}
	log.Debug().Msg("Phone shared its app state key")
	hctx, hcancel := context.WithTimeout(context.Background(), historySyncTimeout)
	defer hcancel()
	if err := a.SendHistorySync(hctx, deviceID); err != nil {
		log.Warn().Err(err).Msg("Phone failed to send its history")
		return
	}
	log.Debug().Msg("Phone sent its history")
}
