package sessionlock

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/libsignal/groups"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/keys/prekey"
	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/libsignal/session"
	"go.mau.fi/libsignal/util/optional"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

var ser = store.SignalProtobufSerializer

// newPeer returns a contact's device in a whatsmeow store of its own, without the wrappers.
func newPeer(t testing.TB, user string) *store.Device {
	t.Helper()
	container, _ := openContainer(t, "sqlite", sqliteURI(t, "peer.db"), "sqlite3", false)
	device := container.NewDevice()
	saveDevice(t, device, types.NewADJID(user, 0, 0))
	return device
}

// bundleOf returns device's prekey bundle with one of its one-time prekeys, as a key fetch would.
func bundleOf(t testing.TB, device *store.Device) *prekey.Bundle {
	t.Helper()
	keys, err := device.PreKeys.GetOrGenPreKeys(context.Background(), 1)
	if err != nil || len(keys) != 1 {
		t.Fatalf("no prekey: %v", err)
	}
	return prekey.NewBundle(device.RegistrationID, uint32(device.ID.Device), optional.NewOptionalUint32(keys[0].KeyID),
		device.SignedPreKey.KeyID, ecc.NewDjbECPublicKey(*keys[0].Pub), ecc.NewDjbECPublicKey(*device.SignedPreKey.Pub),
		*device.SignedPreKey.Signature, identity.NewKey(ecc.NewDjbECPublicKey(*device.IdentityKey.Pub)))
}

// peerSession is a contact's device (a store of its own, without the wrappers) with a session to
// the bridge's device, built from the bridge's prekey bundle as a sender does before its first
// message, and the ciphers of both ends.
type peerSession struct {
	contact                     *store.Device
	contactAddr                 *protocol.SignalAddress
	contactCipher, bridgeCipher *session.Cipher
}

// newPeerSession returns the contact user's peerSession with bridge.
func newPeerSession(tb testing.TB, bridge *store.Device, user string) peerSession {
	tb.Helper()
	contact := newPeer(tb, user)
	bridgeAddr, contactAddr := bridge.ID.SignalAddress(), contact.ID.SignalAddress()
	contactBuilder := session.NewBuilderFromSignal(contact, bridgeAddr, ser)
	if err := contactBuilder.ProcessBundle(context.Background(), bundleOf(tb, bridge)); err != nil {
		tb.Fatal(err)
	}
	return peerSession{
		contact:       contact,
		contactAddr:   contactAddr,
		contactCipher: session.NewCipher(contactBuilder, bridgeAddr),
		bridgeCipher:  session.NewCipher(session.NewBuilderFromSignal(bridge, contactAddr, ser), contactAddr),
	}
}

// TestRealDecryptionWrites runs libsignal's own ciphers against the wrapped store as whatsmeow's
// Client.bufferedDecrypt does (decrypt, then PutBufferedEvent, inside DoDecryptionTxn): a prekey
// message (identity saved, session built, one-time prekey removed), a normal message, and a group
// message. On PostgreSQL the normal message and the group message cost one statement each (the
// session and the sender key are known from their earlier stores).
func TestRealDecryptionWrites(t *testing.T) {
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			ctx := context.Background()
			bridge, raw, counter := newDeviceFor(t, dialect)
			peer := newPeerSession(t, bridge, "4915100000001")
			contact, contactAddr, contactCipher, bridgeCipher := peer.contact, peer.contactAddr, peer.contactCipher, peer.bridgeCipher

			decrypt := func(hash byte, run func(context.Context) ([]byte, error)) string {
				t.Helper()
				var plaintext []byte
				err := bridge.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) (err error) {
					if plaintext, err = run(ctx); err != nil {
						return err
					}
					return bridge.EventBuffer.PutBufferedEvent(ctx, [32]byte{hash}, plaintext, time.Unix(1700000000, 0))
				})
				if err != nil {
					t.Fatal(err)
				}
				if evt, err := raw.GetBufferedEvent(ctx, [32]byte{hash}); err != nil || evt == nil || string(evt.Plaintext) != string(plaintext) {
					t.Fatalf("buffered event %v, %v", evt, err)
				}
				return string(plaintext)
			}

			// 1. The contact's first message: a prekey message.
			first, err := contactCipher.Encrypt(ctx, []byte("hello"))
			if err != nil {
				t.Fatal(err)
			}
			preKeyMsg, err := protocol.NewPreKeySignalMessageFromBytes(first.Serialize(), ser.PreKeySignalMessage, ser.SignalMessage)
			if err != nil {
				t.Fatal(err)
			}
			before := counter.count()
			if got := decrypt(1, func(ctx context.Context) ([]byte, error) { return bridgeCipher.DecryptMessage(ctx, preKeyMsg) }); got != "hello" {
				t.Fatalf("decrypted %q", got)
			}
			preKeyTrips := counter.since(before)
			if dialect == testdb.Postgres && slices.ContainsFunc(preKeyTrips, func(s string) bool { return strings.HasPrefix(s, "Begin") }) {
				t.Errorf("the prekey message was decrypted in a transaction: %q", preKeyTrips)
			}
			t.Logf("prekey message: %q", preKeyTrips)
			if k, _ := raw.GetPreKey(ctx, preKeyMsg.PreKeyID().Value); k != nil {
				t.Error("the used one-time prekey was not removed")
			}
			if rec, _ := raw.GetSession(ctx, contactAddr.String()); rec == nil {
				t.Error("no session was stored")
			}
			if trusted, _ := raw.IsTrustedIdentity(ctx, contactAddr.String(), [32]byte{0xee}); trusted {
				t.Error("the contact's identity key was not stored")
			}

			// The bridge answers (so the contact's next message is a normal one).
			reply, err := bridgeCipher.Encrypt(ctx, []byte("hi"))
			if err != nil {
				t.Fatal(err)
			}
			ReleaseSender(bridge, *contact.ID)
			replyMsg, err := protocol.NewSignalMessageFromBytes(reply.Serialize(), ser.SignalMessage)
			if err != nil {
				t.Fatal(err)
			}
			if _, err = contactCipher.Decrypt(ctx, replyMsg); err != nil {
				t.Fatal(err)
			}

			// 2. A normal message.
			second, err := contactCipher.Encrypt(ctx, []byte("how are you"))
			if err != nil {
				t.Fatal(err)
			}
			normal, err := protocol.NewSignalMessageFromBytes(second.Serialize(), ser.SignalMessage)
			if err != nil {
				t.Fatal(err)
			}
			before = counter.count()
			if got := decrypt(2, func(ctx context.Context) ([]byte, error) { return bridgeCipher.Decrypt(ctx, normal) }); got != "how are you" {
				t.Fatalf("decrypted %q", got)
			}
			dmTrips := counter.since(before)
			dmTrips = dmTrips[:len(dmTrips)-1] // the check's read of the buffered event

			// 3. A group message.
			groupName := protocol.NewSenderKeyName(groupID, contactAddr)
			contactGroup := groups.NewGroupSessionBuilder(contact, ser)
			skdm, err := contactGroup.Create(ctx, groupName)
			if err != nil {
				t.Fatal(err)
			}
			bridgeGroup := groups.NewGroupSessionBuilder(bridge, ser)
			if err = bridgeGroup.Process(ctx, groupName, skdm); err != nil {
				t.Fatal(err)
			}
			groupCipherText, err := groups.NewGroupCipher(contactGroup, groupName, contact).Encrypt(ctx, []byte("hi all"))
			if err != nil {
				t.Fatal(err)
			}
			groupMsg, err := protocol.NewSenderKeyMessageFromBytes(groupCipherText.SignedSerialize(), ser.SenderKeyMessage)
			if err != nil {
				t.Fatal(err)
			}
			bridgeGroupCipher := groups.NewGroupCipher(bridgeGroup, groupName, bridge)
			before = counter.count()
			if got := decrypt(3, func(ctx context.Context) ([]byte, error) { return bridgeGroupCipher.Decrypt(ctx, groupMsg) }); got != "hi all" {
				t.Fatalf("decrypted %q", got)
			}
			groupTrips := counter.since(before)
			groupTrips = groupTrips[:len(groupTrips)-1]

			t.Logf("normal message: %q", dmTrips)
			t.Logf("group message: %q", groupTrips)
			if dialect != testdb.Postgres {
				return
			}
			if len(dmTrips) != 1 || !strings.HasPrefix(dmTrips[0], "Exec WITH") {
				t.Errorf("a normal message took %q, want the one combined statement", dmTrips)
			}
			if len(groupTrips) != 1 || !strings.HasPrefix(groupTrips[0], "Exec WITH") {
				t.Errorf("a group message took %q, want the one combined statement", groupTrips)
			}
		})
	}
}
