// Package bridge wires the appservice, the database, the users and their WhatsApp logins together.
//
// Lifecycle: New builds everything from the config; Start registers the bot, starts the appservice
// HTTP listener and both inboxes' workers; Stop shuts them down in reverse order under one background
// context, so every goroutine the bridge starts exits when Stop returns.
//
// Matrix events reach the bridge as appservice transactions. A transaction's events are written to
// the durable inbox (database.MatrixInboxQuery) before the homeserver gets its 200, and the inbox
// worker handles them afterwards in order per room. A crash between the two loses nothing: pending
// inbox rows are handled after the restart. WhatsApp events take the mirror way: the login's
// handler (waRouter) stores each portal-bound event in the WhatsApp inbox
// (database.WhatsAppInboxQuery) before WhatsApp gets its acknowledgement, and the WhatsApp inbox
// (whatsapp_inbox.go) bridges them in order per portal.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/metrics"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// Bridge is one running instance of the bridge.
type Bridge struct {
	Config *config.Config
	DB     *database.Database
	AS     *appservice.AppService
	Log    zerolog.Logger

	server   *http.Server
	commands *commandRegistry
	puppets  *puppet.Manager
	portals  *portal.Manager

	// metrics counts at the seams (metrics.go); metricsServer serves them when metrics.enabled.
	metrics       *metrics.Metrics
	metricsServer *http.Server
	// statePush sends login state changes to homeserver.status_endpoint; nil when that is empty.
	statePush *statePusher

	users     map[id.UserID]*User
	usersLock sync.Mutex
	// doublePuppets lets users' own ghosts act as their real accounts; nil: not configured
	// (doublepuppet.go).
	doublePuppets *doublePuppets

	inboxWake chan struct{}
	// startedAt is when this process created the bridge: WhatsApp inbox rows stored before it may
	// have reached Matrix already (whatsapp_inbox.go). It is whole milliseconds, as the rows'
	// received_at is, so that a row this process stores in its first millisecond is not taken for
	// an earlier process's.
	startedAt time.Time
	// waMaybeSent tracks the pending WhatsApp inbox rows that may be in their rooms already
	// (maybe_sent.go).
	waMaybeSent *maybeSentRows
	// hsOutages remembers when the homeserver was last unreachable, after which it may push
	// events late (late_events.go).
	hsOutages homeserverOutages
	// hsBack wakes what waits for the homeserver once it answers again (hsback.go).
	hsBack homeserverBack
	// roomActivity counts the events the homeserver pushed over the last seconds; the bot's sync
	// polls while they are many (botsync.go).
	roomActivity roomActivity
	// botSyncAsked asks the bot's polling sync for its next poll now (wantBotSync).
	botSyncAsked chan struct{}
	// unbridged holds the seqs of Matrix inbox rows stored while the message map had no row of
	// their event, until their first handling (inbox.go).
	unbridged unbridgedRows
	// waInboxWake wakes the WhatsApp inbox (whatsapp_inbox.go).
	waInboxWake chan struct{}
	// inboxRooms and waInboxPortals hand the rooms and portals whose rows were just stored to the
	// inboxes' pools, which then need not ask the database which have pending rows; a full
	// channel falls back to a wake-up. inboxMemory and waInboxMemory keep the stored rows for
	// their workers (inbox_memory.go).
	inboxRooms     chan id.RoomID
	waInboxPortals chan database.PortalKey
	inboxMemory    *inboxMemory[id.RoomID, *database.InboxEvent]
	waInboxMemory  *inboxMemory[database.PortalKey, *database.WhatsAppInboxEvent]
	// pendingRooms are the rooms told that their messages wait for WhatsApp, with the bridge user
	// whose connection they wait for.
	pendingRooms map[id.RoomID]id.UserID
	pendingLock  sync.Mutex
	// members caches who is in which room, so that portals bridge only their members' events
	// (membership.go).
	members memberships
	// typing is, per room, the bridge users the last m.typing said are typing.
	typing     map[id.RoomID]map[id.UserID]bool
	typingLock sync.Mutex
	// avatarChecked remembers when each contact's picture was last looked up.
	avatarChecked sync.Map
	// ghostPresence is the Matrix presence last set on each ghost (presence.go).
	ghostPresence sync.Map
	// ready is set once Start has finished; /_matrix/mau/ready reports it with its other checks.
	ready atomic.Bool
	// inboxActivity is when the Matrix inbox last attempted an event (health.go).
	inboxActivity inboxActivity
	// waInboxActivity is when the WhatsApp inbox last attempted an event (health.go).
	waInboxActivity inboxActivity

	// crypto is the bot's encryption device; nil unless encryption.allow (crypto.go).
	crypto bridgeCrypto

	// waWebsocket and waMedia are the HTTP clients of every WhatsApp connection (nil = whatsmeow's
	// defaults, i.e. the real WhatsApp).
	waWebsocket *http.Client
	waMedia     *http.Client

	ctx    context.Context
	cancel context.CancelFunc
	// wg counts the bridge's goroutines; spawnLock and stopping keep new ones from starting once
	// Stop waits for them (a WaitGroup must not grow while it is waited for).
	wg        sync.WaitGroup
	spawnLock sync.Mutex
	stopping  bool
}

// spawn runs fn in a goroutine that Stop waits for, unless the bridge is stopping. It reports
// whether fn was started.
func (br *Bridge) spawn(fn func()) bool {
	br.spawnLock.Lock()
	defer br.spawnLock.Unlock()
	if br.stopping {
		return false
	}
	br.wg.Add(1)
	go func() {
		defer br.wg.Done()
		fn()
	}()
	return true
}

// New builds a bridge from a validated config and an upgraded database. It does no network I/O.
func New(cfg *config.Config, db *database.Database, log zerolog.Logger) (*Bridge, error) {
	if !cfg.HasTokens() {
		return nil, errors.New("appservice tokens are not set: run with -g to generate the registration first")
	}
	as, err := appservice.CreateFull(appservice.CreateOpts{
		Registration:     cfg.Registration(),
		HomeserverDomain: cfg.Homeserver.Domain,
		HomeserverURL:    cfg.Homeserver.Address,
		HostConfig:       appservice.HostConfig{Hostname: cfg.Appservice.Hostname, Port: uint16(cfg.Appservice.Port)},
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create appservice: %w", err)
	}
	as.Log = log.With().Str("component", "appservice").Logger()
	// Few retries per request (4 s, then 8 s): the callers retry on their own, with backoff and
	// without holding up other work for minutes (WhatsApp events in the WhatsApp inbox, Matrix events
	// in the inbox worker).
	as.DefaultHTTPRetries = 2
	// Every client of the appservice shares this HTTP client, which keeps its connections open for
	// the next requests; each request adds its time to the homeserver wait of the message it is
	// made for (metrics' message_handling_seconds).
	as.HTTPClient.Transport = homeserverTransport(as.HTTPClient.Transport) // hsclient.go
	br := &Bridge{
		Config:      cfg,
		DB:          db,
		AS:          as,
		Log:         log,
		users:       make(map[id.UserID]*User),
		inboxWake:   make(chan struct{}, 1),
		startedAt:   time.Now().Truncate(time.Millisecond),
		waMaybeSent: newMaybeSentRows(),

		waInboxWake:  make(chan struct{}, 1),
		botSyncAsked: make(chan struct{}, 1),

		inboxRooms:     make(chan id.RoomID, inboxKeyBuffer),
		waInboxPortals: make(chan database.PortalKey, inboxKeyBuffer),
		inboxMemory:    newInboxMemory[id.RoomID](func(row *database.InboxEvent) int64 { return row.Seq }),
		waInboxMemory:  newInboxMemory[database.PortalKey](func(row *database.WhatsAppInboxEvent) int64 { return row.Seq }),

		pendingRooms: make(map[id.RoomID]id.UserID),
		typing:       make(map[id.RoomID]map[id.UserID]bool),
	}
	if br.waWebsocket, br.waMedia, err = whatsapp.Transport(cfg.WhatsApp, whatsapp.MediaLimit{Bytes: msgconv.MaxMediaSize + mediaOverhead, Err: msgconv.ErrMediaTooLarge}); err != nil {
		return nil, err
	}
	if cfg.Encryption.Allow {
		// Before any intent exists: the encryption device wraps the appservice's state store.
		if br.crypto, err = newCrypto(br); err != nil {
			return nil, err
		}
		as.BotIntent().Client.Crypto = br.crypto
	}
	br.commands = newCommandRegistry()
	br.registerCommands()
	br.ctx, br.cancel = context.WithCancel(log.WithContext(context.Background()))
	br.metrics = metrics.New(br, log.With().Str("component", "metrics").Logger())
	if url := cfg.Homeserver.StatusEndpoint; url != "" {
		br.statePush = newStatePusher(url, cfg.Appservice.ASToken, log.With().Str("component", "bridge_state").Logger())
	}
	br.puppets = puppet.NewManager(cfg, db, as, log)
	matrix := portal.NewAppserviceMatrix(as)
	matrix.IsGhost = br.puppets.IsGhost
	if br.crypto != nil {
		matrix.SetCrypto(br.crypto)
	}
	br.setUpDoublePuppeting(cfg, matrix) // doublepuppet.go
	br.portals = portal.NewManager(br.ctx, cfg, db, br.metrics.Matrix(matrix), br.puppets, br, log)
	return br, nil
}

// BotMXID returns the bridge bot's user ID.
func (br *Bridge) BotMXID() id.UserID {
	return id.NewUserID(br.Config.Appservice.Bot.Username, br.Config.Homeserver.Domain)
}

// mediaOverhead is what WhatsApp's encryption adds to a file (padding and MAC), with room to spare:
// the media client reads at most msgconv.MaxMediaSize plus this from one response.
const mediaOverhead = 64 << 10

// listenerReadTimeout bounds how long the appservice listener reads one request, body included,
// and idleTimeout how long it keeps an idle connection: a client that sends slowly or not at all
// cannot hold connections open. A homeserver sends a transaction's body at once.
const (
	listenerReadTimeout = 2 * time.Minute
	listenerIdleTimeout = 2 * time.Minute
)

// Start opens the appservice listener, makes sure the bot is registered with its profile, and starts
// the inbox worker. It returns an error when the port cannot be bound or the homeserver refuses the
// registration; the caller should then Stop and exit.
func (br *Bridge) Start(ctx context.Context) error {
	addr := net.JoinHostPort(br.Config.Appservice.Hostname, strconv.Itoa(br.Config.Appservice.Port))
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("failed to listen on %s (appservice.hostname/port): %w", addr, err)
	}
	br.server = &http.Server{
		Handler:           br.router(),
		ReadHeaderTimeout: 30 * time.Second,
		ReadTimeout:       listenerReadTimeout,
		IdleTimeout:       listenerIdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return br.ctx },
	}
	br.wg.Add(1)
	go func() {
		defer br.wg.Done()
		if err := br.server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			br.Log.Error().Err(err).Msg("Appservice HTTP listener failed")
		}
	}()
	br.Log.Info().Str("address", addr).Msg("Appservice listener started")
	if err = br.startMetrics(); err != nil {
		return err
	}

	if err = br.ensureBot(ctx); err != nil {
		return err
	}
	if br.crypto != nil {
		if err = br.crypto.Init(ctx); err != nil {
			return fmt.Errorf("failed to start end-to-bridge encryption: %w", err)
		}
	}
	br.loadPending(ctx) // before any connection clears its rooms
	// Before any connection stores WhatsApp events (maybe_sent.go).
	if err = br.loadCleanStop(ctx); err != nil {
		return err
	}
	if err = br.portals.LoadReservedIDs(ctx); err != nil {
		return err
	}
	if br.statePush != nil {
		br.wg.Add(1)
		go func() {
			defer br.wg.Done()
			br.statePush.run(br.ctx)
		}()
	}
	if err = br.connectAllUsers(ctx); err != nil {
		return err
	}
	br.inboxActivity.touch()
	br.waInboxActivity.touch()
	br.wg.Add(2)
	go br.runInbox()
	go br.runWhatsAppInbox()
	br.wakeInbox()
	br.wakeWAInbox()
	br.wg.Add(1)
	go br.runGiveUp() // missed.go
	if br.botSyncWanted(ctx) {
		br.wg.Add(2)
		go br.runBotSync()
		go br.runHomeserverWatch() // hswatch.go
	}
	if br.Config.Bridge.DisappearingRedactEnabled() {
		br.spawn(func() { br.portals.RunExpiry(br.ctx, time.Second) }) // portal/expiry.go
	}
	br.ready.Store(true)
	br.Log.Info().Stringer("bot", br.BotMXID()).Msg("Bridge started")
	return nil
}

// ensureBot registers the bot user (retrying while the homeserver is starting) and sets its profile.
func (br *Bridge) ensureBot(ctx context.Context) error {
	bot := br.AS.BotIntent()
	var err error
	for attempt := 0; attempt < 30; attempt++ {
		if err = bot.EnsureRegistered(ctx); err == nil {
			break
		}
		br.Log.Warn().Err(err).Int("attempt", attempt+1).Msg("Failed to register bot user, retrying")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if err != nil {
		return fmt.Errorf("failed to register the bot user %s with the homeserver (is the registration installed?): %w", br.BotMXID(), err)
	}
	if resp, err := bot.Whoami(ctx); err != nil {
		return fmt.Errorf("homeserver rejected the appservice token: %w", err)
	} else if resp.UserID != br.BotMXID() {
		return fmt.Errorf("homeserver says the as_token belongs to %s, expected %s", resp.UserID, br.BotMXID())
	}
	profile, err := bot.GetOwnDisplayName(ctx)
	if err != nil || profile.DisplayName != br.Config.Appservice.Bot.Displayname {
		if err = bot.SetDisplayName(ctx, br.Config.Appservice.Bot.Displayname); err != nil {
			br.Log.Warn().Err(err).Msg("Failed to set bot display name")
		}
	}
	// The bot is in every portal room and never reads notifications: muted, it costs the
	// homeserver no notification bookkeeping per message (puppet.MuteNotifications).
	if muted, err := puppet.NotificationsMuted(ctx, bot.Client); err != nil || !muted {
		if err = puppet.MuteNotifications(ctx, bot.Client); err != nil {
			br.Log.Warn().Err(err).Msg("Failed to mute the bot's notifications")
		}
	}
	if avatar := br.Config.Appservice.Bot.Avatar; avatar != "" {
		if uri, err := id.ParseContentURI(avatar); err != nil {
			br.Log.Warn().Err(err).Msg("Invalid appservice.bot.avatar, not setting it")
		} else if err = bot.SetAvatarURL(ctx, uri); err != nil {
			br.Log.Warn().Err(err).Msg("Failed to set bot avatar")
		}
	}
	return nil
}

// Stop shuts the bridge down: no new transactions are accepted, the work in flight finishes, and
// every goroutine started by the bridge has exited when Stop returns. It does not close the database.
func (br *Bridge) Stop() {
	br.Log.Info().Msg("Stopping bridge")
	if br.server != nil {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := br.server.Shutdown(shutdownCtx); err != nil {
			br.Log.Warn().Err(err).Msg("Appservice listener did not shut down cleanly")
		}
		cancel()
	}
	br.stopMetrics()
	// Close the WhatsApp connections before cancelling the work on them, so that no request is
	// cancelled while its answer is being received (whatsmeow does not synchronise that case).
	br.spawnLock.Lock()
	br.stopping = true
	br.spawnLock.Unlock()
	br.disconnectAll()
	br.cancel()
	br.wg.Wait()
	br.portals.Wait()
	if br.DB != nil {
		// The message map rows held for a later statement go in before the clean stop record says
		// which inbox rows are still pending. Rows that cannot be written leave no record: their
		// events were sent, and only a start that takes the stop for a crash looks for them in
		// their rooms before sending them again.
		flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := br.DB.FlushHeld(flushCtx); err != nil {
			br.Log.Warn().Err(err).Msg("Failed to write held message map rows; the next start looks for pending WhatsApp events in their rooms")
		} else {
			br.saveCleanStop() // maybe_sent.go
		}
		cancel()
	}
	br.Log.Info().Msg("Bridge stopped")
}

// disconnectAll closes every WhatsApp connection. Messages whatsmeow has not acknowledged yet are
// re-delivered by WhatsApp on the next connect.
func (br *Bridge) disconnectAll() {
	for _, acct := range br.allAccounts() {
		acct.wa.Shutdown()
	}
}
