//go:build goolm

package encryption

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lib/pq"
	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

func init() {
	crypto.PostgresArrayWrapper = pq.Array
}

// Supported reports whether this binary was built with encryption support (the goolm build tag).
const Supported = true

// cryptoAccountID names the bot's account in the crypto store (crypto_account.account_id).
const cryptoAccountID = "bridge-bot"

// deviceDisplayName is the bot device's name as Matrix clients list it.
const deviceDisplayName = "WhatsApp bridge"

// ErrNoSession wraps a decryption failure because the room key has not arrived (yet).
var ErrNoSession = crypto.ErrNoSessionFound

// Options is what the Helper needs from the bridge.
type Options struct {
	Config config.EncryptionConfig
	AS     *appservice.AppService
	DB     *dbutil.Database
	Log    zerolog.Logger
	// IsBridgeUser reports the bot and the ghosts: they have no devices of their own, so room keys
	// are never shared with them.
	IsBridgeUser func(id.UserID) bool
	// IsMember reports whether userID is joined to or invited into roomID, for key requests.
	IsMember func(ctx context.Context, roomID id.RoomID, userID id.UserID) bool
	// SessionReceived is called when a room key arrives (from the to-device events of a sync).
	SessionReceived func(ctx context.Context, roomID id.RoomID, sessionID id.SessionID)
	// KV keeps the recovery key of the cross-signing keys (encryption.self_sign).
	KV interface {
		Get(ctx context.Context, key string) (string, error)
		Set(ctx context.Context, key, value string) error
	}
}

// Helper is the bridge bot's encryption device. It implements mautrix.CryptoHelper so that the
// appservice's clients (bot and ghosts) encrypt what they send in encrypted rooms.
type Helper struct {
	opts   Options
	log    zerolog.Logger
	State  *StateStore
	store  *crypto.SQLCryptoStore
	client *mautrix.Client
	mach   *crypto.OlmMachine

	// roomLocks serialise encrypting (and sharing the session) per room.
	roomLocks sync.Map // id.RoomID -> *sync.Mutex
}

var _ mautrix.CryptoHelper = (*Helper)(nil)

// New wraps the appservice's state store and returns the Helper. Call it before any intent is made
// (the clients copy the state store when they are created); call Init before use.
func New(opts Options) *Helper {
	log := opts.Log.With().Str("component", "crypto").Logger()
	h := &Helper{opts: opts, log: log}
	h.State = NewStateStore(opts.AS.StateStore, opts.DB, dbutil.ZeroLogger(log.With().Str("db_section", "matrix_state").Logger()))
	opts.AS.StateStore = h.State
	return h
}

// Init upgrades the crypto tables, logs the bot in with its device (the stored device ID, or a new
// one on the first start), loads the Olm account and uploads the device keys and one-time keys,
// and cross-signs the device when encryption.self_sign is set. It returns an error when the
// homeserver refuses the appservice login or the keys cannot be stored or uploaded.
func (h *Helper) Init(ctx context.Context) error {
	if err := h.State.Upgrade(ctx); err != nil {
		return fmt.Errorf("failed to upgrade the Matrix state tables: %w", err)
	}
	h.State.fetch = encryptionFromHomeserver(h.opts.AS.BotClient())
	h.store = crypto.NewSQLCryptoStore(h.opts.DB, dbutil.ZeroLogger(h.log.With().Str("db_section", "crypto").Logger()),
		cryptoAccountID, "", h.opts.Config.EffectivePickleKey())
	if err := h.store.DB.Upgrade(ctx); err != nil {
		return fmt.Errorf("failed to upgrade the crypto tables: %w", err)
	}
	deviceID, err := h.store.FindDeviceID(ctx)
	if err != nil {
		return fmt.Errorf("failed to read the bot's device ID: %w", err)
	}
	if h.client, err = h.login(ctx, deviceID); err != nil {
		return err
	}
	h.store.DeviceID = h.client.DeviceID
	h.log = h.log.With().Stringer("device_id", h.client.DeviceID).Logger()
	h.mach = crypto.NewOlmMachine(h.client, &h.log, h.store, h.State)
	h.mach.AllowKeyShare = h.allowKeyShare
	if h.opts.Config.VerifiedOnly {
		h.mach.SendKeysMinTrust = id.TrustStateCrossSignedTOFU
		h.mach.ShareKeysMinTrust = id.TrustStateCrossSignedTOFU
	} else {
		h.mach.SendKeysMinTrust = id.TrustStateUnset
		h.mach.ShareKeysMinTrust = id.TrustStateUnset
	}
	h.mach.SessionReceived = func(ctx context.Context, roomID id.RoomID, sessionID id.SessionID, _ uint32) {
		if h.opts.SessionReceived != nil {
			h.opts.SessionReceived(ctx, roomID, sessionID)
		}
	}
	if err = h.loadAccount(ctx); err != nil {
		return err
	}
	if deviceID != "" && !h.keysOnServer(ctx) {
		// The homeserver lost the device's keys (or the device): upload them again.
		h.mach.GetAccount().Shared = false
	}
	if err = h.mach.ShareKeys(ctx, -1); err != nil {
		return fmt.Errorf("failed to upload the bot's device keys: %w", err)
	}
	if h.opts.Config.SelfSign {
		h.selfSign(ctx)
	}
	h.log.Info().Bool("new_device", deviceID == "").Msg("End-to-bridge encryption ready")
	return nil
}

// loadAccount loads the bot's Olm account (a new one on the first start) and computes its public
// identity keys once, before the account is used from more than one goroutine.
//
// crypto.OlmAccount derives its Ed25519 and Curve25519 public keys lazily and caches them in
// unguarded fields on the first call of Keys, SigningKey or IdentityKey. An account read back
// from the store (every start after the first) has them empty, so the inbox worker decrypting a
// Megolm event, the bot's /sync decrypting an Olm message and a ghost encrypting would all write
// them at once: a data race on the account. After loadAccount they are only read.
func (h *Helper) loadAccount(ctx context.Context) error {
	if err := h.mach.Load(ctx); err != nil {
		return fmt.Errorf("failed to load the bot's Olm account: %w", err)
	}
	h.mach.GetAccount().Keys()
	return nil
}

// login logs the bot in with the appservice login type, keeping deviceID when it is set.
func (h *Helper) login(ctx context.Context, deviceID id.DeviceID) (*mautrix.Client, error) {
	client := h.opts.AS.NewMautrixClient(h.opts.AS.BotMXID())
	resp, err := client.Login(ctx, &mautrix.ReqLogin{
		Type:                     mautrix.AuthTypeAppservice,
		Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: string(h.opts.AS.BotMXID())},
		DeviceID:                 deviceID,
		InitialDeviceDisplayName: deviceDisplayName,
		StoreCredentials:         true,
	})
	if err != nil {
		return nil, fmt.Errorf("the homeserver refused the bot's appservice login (m.login.application_service): %w", err)
	}
	client.SetAppServiceUserID = false
	client.DeviceID = resp.DeviceID
	return client, nil
}

// keysOnServer reports whether the homeserver still has the device's identity keys.
func (h *Helper) keysOnServer(ctx context.Context) bool {
	resp, err := h.client.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: map[id.UserID]mautrix.DeviceIDList{
		h.client.UserID: {h.client.DeviceID},
	}})
	if err != nil {
		h.log.Warn().Err(err).Msg("Failed to check the bot's device keys on the homeserver")
		return true
	}
	device, ok := resp.DeviceKeys[h.client.UserID][h.client.DeviceID]
	return ok && len(device.Keys) > 0
}

// Client returns the bot's client with its device's access token, for the bot's /sync (to-device
// events are delivered per device).
func (h *Helper) Client() *mautrix.Client {
	return h.client
}

// DeviceID returns the bot's device ID.
func (h *Helper) DeviceID() id.DeviceID {
	return h.client.DeviceID
}

// ProcessSync handles the encryption part of one /sync answer of the bot's device: to-device
// events (room keys, key requests, Olm messages), device list changes and one-time key counts.
// Everything it learns is stored before it returns.
func (h *Helper) ProcessSync(ctx context.Context, resp *mautrix.RespSync, since string) {
	h.mach.ProcessSyncResponse(ctx, resp, since)
}

// HandleState takes note of a room's member and encryption state events (from any sender): the
// membership for key sharing and key requests, m.room.encryption to encrypt there from now on. A
// change of membership in an encrypted room starts a new outbound session, so a user who left
// cannot read what follows and one who joined gets the new key.
func (h *Helper) HandleState(ctx context.Context, evt *event.Event) {
	switch evt.Type {
	case event.StateEncryption:
		content := evt.Content.AsEncryption()
		if content.Algorithm == "" {
			return
		}
		if err := h.State.SetEncryptionEvent(ctx, evt.RoomID, content); err != nil {
			zerolog.Ctx(ctx).Err(err).Msg("Failed to store that the room is encrypted")
		}
	case event.StateMember:
		if err := h.State.sql.SetMember(ctx, evt.RoomID, id.UserID(evt.GetStateKey()), evt.Content.AsMember()); err != nil {
			zerolog.Ctx(ctx).Err(err).Msg("Failed to store room member")
		}
		h.mach.HandleMemberEvent(ctx, evt)
	}
}

// Decrypt decrypts a Megolm event. An error wrapping ErrNoSession means the room key has not
// arrived; any other error is final for that event (corrupt, wrong room, replayed index).
func (h *Helper) Decrypt(ctx context.Context, evt *event.Event) (*event.Event, error) {
	return h.mach.DecryptMegolmEvent(ctx, evt)
}

// WaitForSession implements mautrix.CryptoHelper: it waits up to timeout for the room key.
func (h *Helper) WaitForSession(ctx context.Context, roomID id.RoomID, senderKey id.SenderKey, sessionID id.SessionID, timeout time.Duration) bool {
	return h.mach.WaitForSession(ctx, roomID, senderKey, sessionID, timeout)
}

// RequestSession implements mautrix.CryptoHelper: it asks the sender's devices for a room key.
func (h *Helper) RequestSession(ctx context.Context, roomID id.RoomID, senderKey id.SenderKey, sessionID id.SessionID, userID id.UserID, deviceID id.DeviceID) {
	if deviceID == "" {
		deviceID = "*"
	}
	err := h.mach.SendRoomKeyRequest(ctx, roomID, senderKey, sessionID, "", map[id.UserID][]id.DeviceID{userID: {deviceID}})
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Stringer("session_id", sessionID).Msg("Failed to request a room key")
	}
}

// Encrypt implements mautrix.CryptoHelper: it encrypts content for roomID with the room's outbound
// Megolm session, first creating and sharing one with the devices of the room's members (joined
// and invited, the bridge's own users excepted) when there is none or it expired.
func (h *Helper) Encrypt(ctx context.Context, roomID id.RoomID, evtType event.Type, content any) (*event.EncryptedEventContent, error) {
	lock, _ := h.roomLocks.LoadOrStore(roomID, &sync.Mutex{})
	lock.(*sync.Mutex).Lock()
	defer lock.(*sync.Mutex).Unlock()
	encrypted, err := h.mach.EncryptMegolmEvent(ctx, roomID, evtType, content)
	if err == nil {
		return encrypted, nil
	}
	if !errors.Is(err, crypto.ErrSessionExpired) && !errors.Is(err, crypto.ErrSessionNotShared) && !errors.Is(err, crypto.ErrNoGroupSession) {
		return nil, err
	}
	users, err := h.members(ctx, roomID)
	if err != nil {
		return nil, err
	}
	if err = h.mach.ShareGroupSession(ctx, roomID, users); err != nil {
		return nil, fmt.Errorf("failed to share the room key: %w", err)
	}
	return h.mach.EncryptMegolmEvent(ctx, roomID, evtType, content)
}

// members returns the joined and invited members of roomID as the homeserver has them now, minus
// the bridge's own users, and remembers the full list in the state store.
func (h *Helper) members(ctx context.Context, roomID id.RoomID) ([]id.UserID, error) {
	resp, err := h.opts.AS.BotClient().Members(ctx, roomID)
	if err != nil {
		return nil, fmt.Errorf("failed to get the room's members: %w", err)
	}
	if err = h.State.rememberMembers(ctx, roomID, resp.Chunk); err != nil {
		h.log.Warn().Err(err).Stringer("room_id", roomID).Msg("Failed to store the room's members")
	}
	var users []id.UserID
	for _, evt := range resp.Chunk {
		_ = evt.Content.ParseRaw(evt.Type)
		ms := evt.Content.AsMember().Membership
		user := id.UserID(evt.GetStateKey())
		if (ms == event.MembershipJoin || ms == event.MembershipInvite) && !h.opts.IsBridgeUser(user) {
			users = append(users, user)
		}
	}
	return users, nil
}

// allowKeyShare decides a key request: never for blacklisted devices, only for verified ones with
// encryption.verified_only, and only to a member of the room (joined or invited).
func (h *Helper) allowKeyShare(ctx context.Context, device *id.Device, info event.RequestedKeyInfo) *crypto.KeyShareRejection {
	log := zerolog.Ctx(ctx).With().Stringer("requester", device.UserID).Stringer("requester_device", device.DeviceID).Logger()
	if device.Trust == id.TrustStateBlacklisted {
		return &crypto.KeyShareRejectBlacklisted
	}
	if h.opts.Config.VerifiedOnly {
		if trust, _ := h.mach.ResolveTrustContext(ctx, device); trust < id.TrustStateCrossSignedTOFU {
			log.Debug().Msg("Refusing a key request from an unverified device")
			return &crypto.KeyShareRejectUnverified
		}
	}
	member := h.State.sql.IsMembership(ctx, info.RoomID, device.UserID, event.MembershipJoin, event.MembershipInvite)
	if !member && (h.opts.IsMember == nil || !h.opts.IsMember(ctx, info.RoomID, device.UserID)) {
		log.Debug().Stringer("room_id", info.RoomID).Msg("Refusing a key request from a non-member")
		return &crypto.KeyShareRejectOtherUser
	}
	return nil
}
