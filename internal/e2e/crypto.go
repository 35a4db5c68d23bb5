//go:build goolm

package e2e

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// CryptoClient is a Matrix user's end-to-end encrypting device, as a real client has it: a fresh
// password login (its own device), mautrix-go's crypto with the pure-Go Olm implementation and its
// store in a SQLite file of the environment's folder, and a /sync loop in the background that
// decrypts what arrives. It records every timeline event it sees, decrypted where it could, and
// the events it failed to decrypt.
type CryptoClient struct {
	*mautrix.Client
	env   *Env
	mach  *crypto.OlmMachine
	state *sqlstatestore.SQLStateStore

	lock    sync.Mutex
	events  []*event.Event       // timeline events in sync order, decrypted ones as decrypted
	failed  map[id.EventID]error // events that could not be decrypted, with why
	changed chan struct{}        // closed and replaced on every new event
	stop    context.CancelFunc
	done    chan struct{}
	// waiting counts the decryptions waiting for a room key in the background (decrypt); Stop
	// ends them through bg and waits for them, so that none logs after the test.
	waiting sync.WaitGroup
	bg      context.Context
	// keyShare decides key requests from other devices (SetKeyShare); nil answers none.
	keyShare atomic.Pointer[KeyShareFunc]
}

// KeyShareFunc decides a room key request as crypto.OlmMachine.AllowKeyShare does: nil shares.
type KeyShareFunc func(ctx context.Context, device *id.Device, info event.RequestedKeyInfo) *crypto.KeyShareRejection

// SetKeyShare decides from now on which key requests the device answers (initially none).
func (c *CryptoClient) SetKeyShare(allow KeyShareFunc) {
	c.keyShare.Store(&allow)
}

var _ mautrix.CryptoHelper = (*CryptoClient)(nil)

// sessionWait is how long the client waits for a missing room key before it gives up on an event.
const sessionWait = 20 * time.Second

// NewCryptoClient logs user (registered by NewUser) in as a new device named name, sets up its
// encryption (device keys uploaded) and starts its sync. It is stopped when the test ends.
func (e *Env) NewCryptoClient(t testing.TB, user id.UserID, name string) *CryptoClient {
	t.Helper()
	ctx := e.ctx
	cli, err := mautrix.NewClient(e.dendrite.url(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cli.Login(ctx, &mautrix.ReqLogin{
		Type:                     mautrix.AuthTypePassword,
		Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: user.String()},
		Password:                 e.Password(user),
		InitialDeviceDisplayName: name,
		StoreCredentials:         true,
	})
	if err != nil {
		t.Fatalf("e2e: %s failed to log in a device: %v", user, err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Str("device", name).Logger()
	cli.Log = log
	dbPath := filepath.Join(e.dir, "crypto-"+strings.NewReplacer("@", "", ":", "_").Replace(user.String())+"-"+cli.DeviceID.String()+".db")
	db, err := database.Open(ctx, "sqlite", dbPath, 0, 0, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	c := &CryptoClient{Client: cli, env: e, failed: make(map[id.EventID]error), changed: make(chan struct{}), done: make(chan struct{})}
	c.state = sqlstatestore.NewSQLStateStore(db.DB, dbutil.ZeroLogger(log), false)
	if err = c.state.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	cli.StateStore = c.state
	store := crypto.NewSQLCryptoStore(db.DB, dbutil.ZeroLogger(log), "", cli.DeviceID, []byte("e2e test client"))
	if err = store.DB.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	c.mach = crypto.NewOlmMachine(cli, &log, store, c.state)
	c.mach.AllowKeyShare = func(ctx context.Context, device *id.Device, info event.RequestedKeyInfo) *crypto.KeyShareRejection {
		if allow := c.keyShare.Load(); allow != nil {
			return (*allow)(ctx, device, info)
		}
		return &crypto.KeyShareRejectNoResponse
	}
	if err = c.mach.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err = c.mach.ShareKeys(ctx, -1); err != nil {
		t.Fatalf("e2e: %s failed to upload its device keys: %v", user, err)
	}
	cli.Crypto = c
	syncer := mautrix.NewDefaultSyncer()
	cli.Syncer = syncer
	syncer.OnSync(c.mach.ProcessSyncResponse)
	syncer.OnEvent(cli.StateStoreSyncHandler)
	syncer.OnEventType(event.StateMember, c.mach.HandleMemberEvent)
	syncer.OnEvent(func(ctx context.Context, evt *event.Event) {
		if evt.Mautrix.EventSource&event.SourceTimeline == 0 {
			return
		}
		if evt.Type == event.EventEncrypted {
			c.decrypt(ctx, evt)
			return
		}
		_ = evt.Content.ParseRaw(evt.Type)
		c.record(evt)
	})
	syncCtx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	c.bg = syncCtx
	go func() {
		defer close(c.done)
		_ = cli.SyncWithContext(syncCtx)
	}()
	t.Cleanup(c.Stop)
	return c
}

func (c *CryptoClient) record(evt *event.Event) {
	c.lock.Lock()
	c.events = append(c.events, evt)
	c.notifyLocked()
	c.lock.Unlock()
}

// decrypt decrypts an event from the sync, waiting for a missing room key in the background.
func (c *CryptoClient) decrypt(ctx context.Context, evt *event.Event) {
	decrypted, err := c.mach.DecryptMegolmEvent(ctx, evt)
	if err == nil {
		c.record(decrypted)
		return
	}
	if !errors.Is(err, crypto.ErrNoSessionFound) {
		c.fail(evt, err)
		return
	}
	c.waiting.Add(1)
	go func() {
		defer c.waiting.Done()
		content := evt.Content.AsEncrypted()
		if !c.mach.WaitForSession(c.bg, evt.RoomID, content.SenderKey, content.SessionID, sessionWait) {
			if c.bg.Err() != nil {
				return
			}
			// As clients do when a key is late, ask the bridge's device for it (ghosts send with
			// the bot's device) and wait once more.
			_ = c.mach.SendRoomKeyRequest(c.bg, evt.RoomID, content.SenderKey, content.SessionID, "",
				map[id.UserID][]id.DeviceID{c.env.BotMXID(): {"*"}})
			if !c.mach.WaitForSession(c.bg, evt.RoomID, content.SenderKey, content.SessionID, sessionWait) {
				if c.bg.Err() == nil {
					c.fail(evt, err)
				}
				return
			}
		}
		if decrypted, err := c.mach.DecryptMegolmEvent(c.bg, evt); err != nil {
			c.fail(evt, err)
		} else {
			c.record(decrypted)
		}
	}()
}

func (c *CryptoClient) fail(evt *event.Event, err error) {
	c.lock.Lock()
	c.failed[evt.ID] = err
	c.notifyLocked()
	c.lock.Unlock()
}

// Init implements mautrix.CryptoHelper (NewCryptoClient has done it).
func (c *CryptoClient) Init(context.Context) error { return nil }

// Decrypt implements mautrix.CryptoHelper.
func (c *CryptoClient) Decrypt(ctx context.Context, evt *event.Event) (*event.Event, error) {
	return c.mach.DecryptMegolmEvent(ctx, evt)
}

// WaitForSession implements mautrix.CryptoHelper.
func (c *CryptoClient) WaitForSession(ctx context.Context, roomID id.RoomID, senderKey id.SenderKey, sessionID id.SessionID, timeout time.Duration) bool {
	return c.mach.WaitForSession(ctx, roomID, senderKey, sessionID, timeout)
}

// RequestSession implements mautrix.CryptoHelper.
func (c *CryptoClient) RequestSession(ctx context.Context, roomID id.RoomID, senderKey id.SenderKey, sessionID id.SessionID, userID id.UserID, deviceID id.DeviceID) {
	_ = c.mach.SendRoomKeyRequest(ctx, roomID, senderKey, sessionID, "", map[id.UserID][]id.DeviceID{userID: {deviceID}})
}

// Encrypt implements mautrix.CryptoHelper as clients do: the room's outbound session, created and
// shared with the devices of every joined or invited member when needed.
func (c *CryptoClient) Encrypt(ctx context.Context, roomID id.RoomID, evtType event.Type, content any) (*event.EncryptedEventContent, error) {
	encrypted, err := c.mach.EncryptMegolmEvent(ctx, roomID, evtType, content)
	if err == nil || (!errors.Is(err, crypto.ErrSessionExpired) && !errors.Is(err, crypto.ErrSessionNotShared) && !errors.Is(err, crypto.ErrNoGroupSession)) {
		return encrypted, err
	}
	// The member list comes from the homeserver (/members), as Element loads it before it first
	// encrypts in a room: the client's own state store may not have caught up with a long initial
	// sync yet, and a key shared with part of the room leaves the rest unable to decrypt.
	resp, err := c.Members(ctx, roomID)
	if err != nil {
		return nil, fmt.Errorf("failed to load the room's members: %w", err)
	}
	var members []id.UserID
	for _, evt := range resp.Chunk {
		_ = evt.Content.ParseRaw(evt.Type)
		if m := evt.Content.AsMember(); m.Membership == event.MembershipJoin || m.Membership == event.MembershipInvite {
			members = append(members, id.UserID(evt.GetStateKey()))
		}
	}
	if err = c.mach.ShareGroupSession(ctx, roomID, members); err != nil {
		return nil, err
	}
	return c.mach.EncryptMegolmEvent(ctx, roomID, evtType, content)
}

// Stop ends the client's sync and its decryptions waiting for room keys, and waits for them.
func (c *CryptoClient) Stop() {
	c.stop()
	<-c.done
	c.waiting.Wait()
}

func (c *CryptoClient) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Machine returns the device's Olm machine.
func (c *CryptoClient) Machine() *crypto.OlmMachine {
	return c.mach
}

// WaitFor waits until the client has seen an event of roomID for which match returns true and
// returns the latest such event (decrypted, if it came encrypted: Mautrix.WasEncrypted says so).
// The test fails at ctx's deadline (DefaultWait when ctx has none), listing what was seen.
func (c *CryptoClient) WaitFor(ctx context.Context, roomID id.RoomID, match func(*event.Event) bool) *event.Event {
	c.env.t.Helper()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWait)
		defer cancel()
	}
	for {
		c.lock.Lock()
		var found *event.Event
		var seen []*event.Event
		for _, evt := range c.events {
			if evt.RoomID == roomID {
				seen = append(seen, evt)
				if match(evt) {
					found = evt
				}
			}
		}
		changed := c.changed
		failed := fmt.Sprint(c.failed)
		c.lock.Unlock()
		if found != nil {
			return found
		}
		select {
		case <-changed:
		case <-ctx.Done():
			c.env.t.Fatalf("e2e: %s (%s) never saw the expected event in %s; failed to decrypt: %s; latest events:\n%s%s",
				c.UserID, c.DeviceID, roomID, failed, describeEvents(seen, 15), c.env.processProblems())
			return nil
		}
	}
}

// WaitDecryptFailure waits until the client failed to decrypt eventID and returns why; the test
// fails at once if the client decrypted it.
func (c *CryptoClient) WaitDecryptFailure(ctx context.Context, eventID id.EventID) error {
	c.env.t.Helper()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWait)
		defer cancel()
	}
	for {
		decrypted := c.Decrypted(eventID)
		c.lock.Lock()
		err, ok := c.failed[eventID]
		changed := c.changed
		c.lock.Unlock()
		if ok {
			return err
		}
		if decrypted {
			c.env.t.Fatalf("e2e: %s (%s) decrypted %s", c.UserID, c.DeviceID, eventID)
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			c.env.t.Fatalf("e2e: %s (%s) never failed to decrypt %s", c.UserID, c.DeviceID, eventID)
			return nil
		}
	}
}

// Decrypted reports whether the client decrypted eventID.
func (c *CryptoClient) Decrypted(eventID id.EventID) bool {
	c.lock.Lock()
	defer c.lock.Unlock()
	for _, evt := range c.events {
		if evt.ID == eventID && evt.Mautrix.WasEncrypted {
			return true
		}
	}
	return false
}

// WaitEncrypted waits until the client knows roomID is encrypted (so that what it sends there is).
func (c *CryptoClient) WaitEncrypted(ctx context.Context, roomID id.RoomID) {
	c.env.t.Helper()
	deadline := time.Now().Add(DefaultWait)
	for {
		encrypted, err := c.StateStore.IsEncrypted(ctx, roomID)
		if err == nil && encrypted {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			c.env.t.Fatalf("e2e: %s never learnt that %s is encrypted (err %v)", c.UserID, roomID, err)
		}
		c.lock.Lock()
		changed := c.changed
		c.lock.Unlock()
		select {
		case <-changed:
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// SendEncrypted encrypts content as evtType (even a reaction, which mautrix-go would send in the
// clear) and sends it to roomID as m.room.encrypted.
func (c *CryptoClient) SendEncrypted(ctx context.Context, roomID id.RoomID, evtType event.Type, content any) (id.EventID, error) {
	encrypted, err := c.Encrypt(ctx, roomID, evtType, content)
	if err != nil {
		return "", fmt.Errorf("failed to encrypt: %w", err)
	}
	resp, err := c.SendMessageEvent(ctx, roomID, event.EventEncrypted, encrypted)
	if err != nil {
		return "", err
	}
	return resp.EventID, nil
}
