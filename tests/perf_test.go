package tests

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// perfSizes sets how much each part of the performance run does. benchSizes is what `make bench`
// measures; smokeSizes is the few-message version `make test` runs so that the code keeps working.
type perfSizes struct {
	// LatencyRounds is how many messages each way are sent one at a time, each waited for, for the
	// latency percentiles: with 300, p99 is the fourth highest (with 100 it was the second, which
	// one hiccup of the machine decides).
	LatencyRounds int
	// Loads are the throughput runs: Messages in all, spread evenly over Chats chats.
	Loads []perfLoad
	// TargetChats picks the load whose figures are held against the targets and whose resources
	// per message (CPU, homeserver requests) the table shows.
	TargetChats int
	// SinglePortals is how many portals the one user of the first environment has at the idle
	// memory reading.
	SinglePortals int
	// BackfillChats and BackfillMessages size the history backfill (messages in all).
	BackfillChats, BackfillMessages int
	// SettleMax is how long the latency rounds wait at most for the machine to settle after the
	// chats were set up (settleMachine); 0 does not wait (the smoke run shares the machine).
	SettleMax time.Duration
	// QuietMax is how long after a throughput run's last arrival the benchmark waits at most for
	// the machine to be quiet again (quietAfter), before it reads the run's resources and starts
	// the next run.
	QuietMax time.Duration
	// ProfileSeconds is how long the CPU profile of the bridge taken at the start of the target
	// load runs (written to BENCH_REPORT.cpu.pprof).
	ProfileSeconds int
	// SurgeUsers log in at once; afterwards each has SurgePortals portals for the idle memory
	// reading, then StartupPortals portals in all for the start-up time.
	SurgeUsers, SurgePortals, StartupPortals int
}

type perfLoad struct{ Chats, Messages int }

var benchSizes = perfSizes{
	LatencyRounds: 300,
	Loads:         []perfLoad{{1, 200}, {10, 1000}, {100, 300}},
	TargetChats:   10, ProfileSeconds: 10, SettleMax: 90 * time.Second, QuietMax: 60 * time.Second,
	SinglePortals: 1_000, BackfillChats: 10, BackfillMessages: 1_000,
	SurgeUsers: 100, SurgePortals: 10, StartupPortals: 10_000,
}

var smokeSizes = perfSizes{
	LatencyRounds: 3,
	Loads:         []perfLoad{{1, 3}, {2, 4}},
	TargetChats:   2, ProfileSeconds: 1, QuietMax: perfSettle,
	SinglePortals: 5, BackfillChats: 2, BackfillMessages: 6,
	SurgeUsers: 2, SurgePortals: 2, StartupPortals: 10,
}

// BenchmarkPerformance is the benchmark `make bench` reports: throughput across 1, 10 and 100
// chats and latency in both directions, each next to the homeserver's ceiling (A: an appservice
// ghost sending straight to Dendrite, or a Matrix user's message pushed straight to an appservice)
// and the WhatsApp side's ceiling (B: a whatsmeow client sending straight to a simulator contact)
// measured in the same run; the bridge's, its database backends' and the homeserver's CPU time
// per message; homeserver requests per bridged message; idle memory with many portals; start-up
// time; a login surge; history backfill. It prints one table and, with BENCH_REPORT set, writes
// it to BENCH_REPORT.md and the figures to BENCH_REPORT.json. One iteration measures everything
// (`-benchtime 1x`); more iterations measure it again.
func BenchmarkPerformance(b *testing.B) {
	for range b.N {
		report := runPerformance(b, benchSizes)
		report.print(b)
	}
}

// TestPerformanceSmoke runs the performance benchmark with a few messages of each kind, so that
// `make test` keeps its code working: every message of every part must arrive and every figure must
// be measured (none is compared with a target here).
func TestPerformanceSmoke(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	report := runPerformance(t, smokeSizes)
	for _, f := range report.Figures {
		if f.Value <= 0 && f.Unit != "ms" && f.Unit != "requests/msg" && f.Unit != "ms/msg" && f.Unit != "conn/msg" {
			t.Errorf("figure %q (%s) = %v %s, want a measured value", f.Name, f.Direction, f.Value, f.Unit)
		}
	}
	if len(report.Figures) < 20 {
		t.Errorf("the report has %d figures, want every part measured:\n%s", len(report.Figures), report.table())
	}
	t.Logf("smoke report:\n%s", report.table())
}

// runPerformance measures everything perfSizes asks for, in two environments one after the other:
// the first (one logged-in user) for throughput, latency, resources per message, idle memory with
// one user's portals and backfill; the second for the login surge, idle memory with many users, and
// start-up.
func runPerformance(t testing.TB, sizes perfSizes) *perfReport {
	report := newPerfReport()
	runPhase(t, "messages", func(t testing.TB) { perfMessages(t, sizes, report) })
	runPhase(t, "logins", func(t testing.TB) { perfLogins(t, sizes, report) })
	return report
}

// runPhase runs fn as a subtest or sub-benchmark, so that its environment is stopped before the
// next phase starts.
func runPhase(t testing.TB, name string, fn func(t testing.TB)) {
	t.Helper()
	ok := true
	switch tb := t.(type) {
	case *testing.T:
		ok = tb.Run(name, func(t *testing.T) { fn(t) })
	case *testing.B:
		ok = tb.Run(name, func(b *testing.B) { fn(b) })
	default:
		fn(t)
	}
	if !ok {
		t.FailNow()
	}
}

// perfEnv is the first phase's environment: PostgreSQL, the probe appservice in Dendrite, the
// bridge's homeserver requests counted, one logged-in user.
type perfEnv struct {
	*waEnv
	probe   *e2e.Probe
	alice   *loggedInUser
	watcher *e2e.Watcher
	wa      *waArrivals
	db      *pgBackends
	// floor is the WhatsApp floor (perf_floor_test.go), linked to an account of its own.
	floor *waFloor
	// metricsURL is the bridge's /metrics.
	metricsURL string
	// settled is what settleMachine said before the latency rounds.
	settled string
	// quietMax is perfSizes.QuietMax.
	quietMax time.Duration
}

// settleBusy is the share of the machine's cores below which it counts as idle.
const settleBusy = 0.15

// settleMachine waits until the machine's cores were less than settleBusy busy for two half-second
// intervals in a row (or settleMax passed) and says how long that took; with settleMax 0 it does
// not wait.
func settleMachine(t testing.TB, settleMax time.Duration) string {
	if settleMax == 0 {
		return ""
	}
	start := time.Now()
	if _, quiet := quietAfter(t, start, 500*time.Millisecond, settleMax); !quiet {
		return fmt.Sprintf("measured while the machine was still busy %.0f s after the chats were set up", settleMax.Seconds())
	}
	return fmt.Sprintf("measured after the machine settled (%.1f s after the chats were set up, cores under %.0f%% busy for 1 s)",
		time.Since(start).Seconds(), settleBusy*100)
}

func perfMessages(t testing.TB, sizes perfSizes, report *perfReport) {
	probe := e2e.NewProbe(t)
	debugAddr := freeLoopbackAddr(t)
	env := newWAEnvWith(t, e2e.Options{Database: testdb.Postgres, CountHomeserverRequests: true, TransactionGate: true, DendriteConfig: probe.AddTo}, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "logging.level", "info")
		e2e.SetConfig(cfg, "bridge.history_sync.max_chats", -1)
		e2e.SetConfig(cfg, "bridge.history_sync.max_messages_per_chat", -1)
		// The pool sizes a default config has (the tests' own config keeps fewer connections, as
		// many bridges share the PostgreSQL server there).
		e2e.SetConfig(cfg, "database.max_open_conns", 0)
		e2e.SetConfig(cfg, "database.max_idle_conns", 0)
		e2e.SetConfig(cfg, "metrics.enabled", true)
		e2e.SetConfig(cfg, "metrics.pprof", true)
		e2e.SetConfig(cfg, "metrics.listen", debugAddr)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	pe := &perfEnv{waEnv: env, probe: probe, wa: newWAArrivals(), db: openPGBackends(t, env.DatabaseURI()), quietMax: sizes.QuietMax}
	pe.alice = newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	pe.watcher = env.NewWatcher(pe.alice.client, func(inviter id.UserID) bool { return isGhost(inviter) })

	chats := 1
	for _, load := range sizes.Loads {
		chats = max(chats, load.Chats)
	}
	portals := pe.setUpChats(t, ctx, chats)
	sink, err := env.WA.CreateContact(ctx, "4917800000001", "Sink")
	if err != nil {
		t.Fatal(err)
	}
	pe.wa.watch(sink)
	pe.floor = startWAFloor(t, ctx, env, "4917900000001")
	pe.floor.warmUp(t, ctx, pe, portals[:sizes.TargetChats])

	pe.metricsURL = "http://" + debugAddr + "/metrics"
	// Creating the chats leaves the homeserver busy for a while (rooms, joins, profiles, the sync
	// streams of every member): latency is measured once that is over.
	pe.settled = settleMachine(t, sizes.SettleMax)
	pe.measureLatency(t, ctx, sizes.LatencyRounds, sizes.SettleMax > 0, portals[0], sink, report)
	for _, load := range sizes.Loads {
		target := load.Chats == sizes.TargetChats
		var profile chan error
		if target {
			profile = make(chan error, 1)
			go func() { profile <- saveProfile(ctx, "http://"+debugAddr, sizes.ProfileSeconds) }()
		}
		pe.measureThroughput(t, ctx, load, target, portals[:load.Chats], sink, report)
		if profile != nil {
			if err := <-profile; err != nil {
				t.Fatalf("CPU profile of the bridge: %v", err)
			}
		}
	}

	// Idle memory with one user's portals (seeded rows; see seedPortals).
	if extra := sizes.SinglePortals - chats; extra > 0 {
		seedPortals(t, ctx, env.DatabaseURI(), pe.alice.acct.JID().ToNonAD().String(), 0, extra)
	}
	env.RestartBridge()
	rss, split := idleRSS(t, env.BridgePID())
	report.add(perfFigure{Name: fmt.Sprintf("RSS idle, 1 user × %d portals", sizes.SinglePortals), Value: rss, Unit: "MB",
		Target: "<= 60 MB", Met: boolPtr(rss <= 60), Detail: split})

	pe.measureBackfill(t, ctx, sizes, report)
}

// perfPortal is one bridged one-to-one chat: the contact and its portal room.
type perfPortal struct {
	contact *wasim.Contact
	room    id.RoomID
	// ceilingGhost and ceilingRoom are the probe's counterpart: a probe ghost in a room with the
	// same Matrix user and the probe's muted bot, sending through an uncounted proxy.
	ceilingGhost *mautrix.Client
	ceilingRoom  id.RoomID
}

// setUpChats creates n contacts that each open a portal with alice (alice's watcher joins them),
// and n ceiling rooms in which alice, one probe ghost each and the probe's bot are.
func (pe *perfEnv) setUpChats(t testing.TB, ctx context.Context, n int) []*perfPortal {
	portals := make([]*perfPortal, n)
	hellos := make([]string, n)
	for i := range n {
		contact, err := pe.WA.CreateContact(ctx, fmt.Sprintf("49177%07d", i), fmt.Sprintf("Contact %d", i))
		if err != nil {
			t.Fatal(err)
		}
		pe.wa.watch(contact)
		hellos[i] = fmt.Sprintf("hello from contact %d", i)
		if _, err = contact.SendText(ctx, pe.alice.acct.JID(), hellos[i]); err != nil {
			t.Fatal(err)
		}
		portals[i] = &perfPortal{contact: contact}
	}
	if _, err := pe.watcher.WaitBodies(ctx, hellos); err != nil {
		t.Fatalf("portals: %v", err)
	}
	for i, hello := range hellos {
		_, portals[i].room, _ = pe.watcher.Arrived(hello)
	}
	// A ceiling room has the members a portal has: the user, a ghost and the appservice's bot, the
	// ghost and the bot with their notifications muted, as the bridge's are
	// (puppet.MuteNotifications). Each member adds the homeserver's per-member work to every
	// message (push rule evaluation): a third member cost Dendrite about 0.7 ms and 4 % of its
	// throughput per message on 10 rooms.
	bot, err := pe.probe.Ghost(ctx, pe.Env, "bot")
	if err != nil {
		t.Fatal(err)
	}
	if err = puppet.MuteNotifications(ctx, bot); err != nil {
		t.Fatal(err)
	}
	// The ghosts send through a proxy like the counting one the bridge's requests pass (about
	// 4 % of the homeserver's throughput on 10 rooms).
	proxyURL, err := url.Parse(pe.HomeserverProxyURL())
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range portals {
		ghost, err := pe.probe.Ghost(ctx, pe.Env, fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		// Muted as the bridge's ghosts are: Matrix→WhatsApp, the homeserver evaluates the
		// receiving ghost's push rules for every message otherwise.
		if err = puppet.MuteNotifications(ctx, ghost); err != nil {
			t.Fatal(err)
		}
		// Made as the bridge makes a DM portal (portal.createDMRoom): the ghost creates it as a
		// direct chat with two state events of the bridge's size and invites the user and the
		// bot, who join. The room's state history is then a portal's: Dendrite loads state for
		// every event it authorises, and a room alice created cost it about 3 ms more per
		// message than a portal.
		info := map[string]any{"protocol": map[string]any{"id": "whatsapp", "displayname": "WhatsApp"},
			"channel": map[string]any{"id": fmt.Sprintf("ceiling-%d", i)}, "bridgebot": bot.UserID}
		room, err := ghost.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Visibility: "private", Preset: "trusted_private_chat", IsDirect: true,
			Invite: []id.UserID{pe.alice.client.UserID, bot.UserID},
			InitialState: []*event.Event{
				{Type: event.StateBridge, StateKey: new(string), Content: event.Content{Raw: info}},
				{Type: event.StateHalfShotBridge, StateKey: new(string), Content: event.Content{Raw: info}},
			},
			PowerLevelOverride: &event.PowerLevelsEventContent{Users: map[id.UserID]int{ghost.UserID: 100, bot.UserID: 100}},
		})
		if err != nil {
			t.Fatalf("failed to create ceiling room %d: %v", i, err)
		}
		for _, member := range []*mautrix.Client{bot, pe.alice.client} {
			if _, err = member.JoinRoomByID(ctx, room.RoomID); err != nil {
				t.Fatalf("%s failed to join ceiling room %d: %v", member.UserID, i, err)
			}
		}
		ghost.HomeserverURL = proxyURL
		p.ceilingGhost, p.ceilingRoom = ghost, room.RoomID
	}
	return portals
}

func isGhost(userID id.UserID) bool {
	return len(userID) > len("@whatsapp_") && string(userID[:len("@whatsapp_")]) == "@whatsapp_"
}

// measureLatency sends rounds messages one at a time on each path and waits for each: the bridge
// both ways, ceiling A both ways, ceiling B. The paths take turns, so that load from other
// programs on the machine falls on all of them alike. With quiet, each send first waits for the
// machine to be quiet (sendSettler), so that no message meets the work the homeserver still does
// for the one before it.
func (pe *perfEnv) measureLatency(t testing.TB, ctx context.Context, rounds int, quiet bool, p *perfPortal, sink *wasim.Contact, report *perfReport) {
	var w2m, m2w, aW2M, aM2W, bWA []time.Duration
	before, err := scrapeMetrics(ctx, pe.metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	edges, stopEdges := pe.watchBridgeEdges(t)
	defer stopEdges()
	busy := 0 // sends that found the machine still busy after the longest wait
	settle := newSendSettler(quiet)
	waIDs, eventIDs := make([]types.MessageID, rounds), make([]id.EventID, rounds)
	for i := range rounds {
		body := fmt.Sprintf("latency w2m %d", i)
		busy += settle.wait(t)
		start := time.Now()
		if waIDs[i], err = p.contact.SendText(ctx, pe.alice.acct.JID(), body); err != nil {
			t.Fatal(err)
		}
		w2m = append(w2m, pe.waitMatrix(t, ctx, body).Sub(start))

		body = fmt.Sprintf("latency m2w %d", i)
		busy += settle.wait(t)
		start = time.Now()
		resp, err := pe.alice.client.SendText(ctx, p.room, body)
		if err != nil {
			t.Fatal(err)
		}
		eventIDs[i] = resp.EventID
		m2w = append(m2w, pe.waitWA(t, ctx, body).Sub(start))

		body = fmt.Sprintf("latency A w2m %d", i)
		busy += settle.wait(t)
		start = time.Now()
		if _, err := p.ceilingGhost.SendText(ctx, p.ceilingRoom, body); err != nil {
			t.Fatal(err)
		}
		aW2M = append(aW2M, pe.waitMatrix(t, ctx, body).Sub(start))

		body = fmt.Sprintf("latency A m2w %d", i)
		busy += settle.wait(t)
		start = time.Now()
		if _, err := pe.alice.client.SendText(ctx, p.ceilingRoom, body); err != nil {
			t.Fatal(err)
		}
		aM2W = append(aM2W, pe.waitProbe(t, ctx, body).Sub(start))

		body = fmt.Sprintf("latency B %d", i)
		busy += settle.wait(t)
		start = time.Now()
		if _, err := p.contact.SendText(ctx, sink.JID(), body); err != nil {
			t.Fatal(err)
		}
		bWA = append(bWA, pe.waitWA(t, ctx, body).Sub(start))
	}
	stopEdges()
	after, err := scrapeMetrics(ctx, pe.metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	latencyDetail := pe.settled
	if quiet {
		latencyDetail += fmt.Sprintf("; each send waited for the machine to be quiet for %d ms (%d of the %d sends went after %d ms without that, %s)",
			sendSettleWindow.Milliseconds(), busy, 5*rounds, sendSettleMax.Milliseconds(), settle.summary())
	}
	// The bridge's own part of each round, timed at its edges (perf_edges_test.go).
	edgeW2M, edgeM2W := make([]time.Duration, rounds), make([]time.Duration, rounds)
	pushed := pushTimes(pe.TransactionPushes())
	pe.RecordTransactionPushes(false) // the throughput runs' pushes are not needed
	for i := range rounds {
		edgeW2M[i] = edges.whatsAppToMatrix(t, waIDs[i], fmt.Sprintf("latency w2m %d", i))
		edgeM2W[i] = edges.matrixToWhatsApp(t, pushed, eventIDs[i], fmt.Sprintf("latency m2w %d", i))
	}
	report.LatencyRounds = make(map[string][]float64)
	for path, rounds := range map[string][]time.Duration{"w2m": w2m, "m2w": m2w, "a_w2m": aW2M, "a_m2w": aM2W, "b": bWA,
		"w2m_bridge_edges": edgeW2M, "m2w_bridge_edges": edgeM2W} {
		for _, d := range rounds {
			report.LatencyRounds[path] = append(report.LatencyRounds[path], ms(d))
		}
	}
	for _, dir := range []struct {
		name, label string
		bridged     []time.Duration
		ceilingA    []time.Duration
		edges       []time.Duration
	}{{dirW2M, "whatsapp_to_matrix", w2m, aW2M, edgeW2M}, {dirM2W, "matrix_to_whatsapp", m2w, aM2W, edgeM2W}} {
		// The bridge's own measurement of the same messages (metrics' message_handling_seconds,
		// from the inbox to bridged): the time it held them apart from its requests' waits.
		for _, part := range []string{"bridge", "homeserver", "whatsapp"} {
			hist := histogramDelta(before, after, "matrix_whatsapp_message_handling_seconds",
				fmt.Sprintf(`direction="%s",part="%s"`, dir.label, part))
			if hist.count == 0 {
				t.Fatalf("the bridge's message_handling_seconds has none of the %s latency messages (part %s)", dir.name, part)
			}
			for _, q := range []float64{50, 99} {
				f := perfFigure{Name: fmt.Sprintf("handling p%.0f, %s part (bridge's histogram, bucket bound)", q, part),
					Direction: dir.name, Value: hist.quantile(q / 100), Unit: "ms"}
				if part == "bridge" && q == 50 {
					f.Detail = fmt.Sprintf("%.0f of the %d messages measured, from the inbox row to bridged; bridge part = total − homeserver requests − whatsmeow calls", hist.count, rounds)
				}
				report.add(f)
			}
		}

		// What the bridge adds: the bridged messages' latency percentile minus that of the same
		// path without the bridge, each round's ceiling A and ceiling B latencies added up (they
		// are measured right after the bridged message, so that load from elsewhere that comes and
		// goes falls on all three alike). A percentile of per-round differences instead
		// (informational lines) subtracts one homeserver latency from another drawn
		// independently: its tail holds the homeserver's jitter twice, about 20 ms at p99 for a
		// bridge that added nothing.
		without := make([]time.Duration, rounds)
		paired := make([]time.Duration, rounds)
		for i := range rounds {
			without[i] = dir.ceilingA[i] + bWA[i]
			paired[i] = dir.bridged[i] - without[i]
		}
		// The targets: p50 ≤ 5 ms on the difference of medians, which a tail does not move and
		// which nets out the WhatsApp side's work a direct client pays as well (encryption,
		// decryption); p99 ≤ 30 ms on the times at the bridge's edges, since a difference of p99s
		// compares two draws of the homeserver's tail.
		for _, q := range []float64{50, 99} {
			report.add(perfFigure{Name: fmt.Sprintf("latency p%.0f, send to arrival", q), Direction: dir.name, Value: ms(percentile(dir.bridged, q)), Unit: "ms",
				CeilingA: ms(percentile(dir.ceilingA, q)), CeilingB: ms(percentile(bWA, q)), Detail: latencyDetail})
			diff := perfFigure{Name: fmt.Sprintf("bridge-added latency p%.0f (bridged − (A + B) per round)", q), Direction: dir.name,
				Value: ms(percentile(dir.bridged, q) - percentile(without, q)), Unit: "ms",
				Detail: fmt.Sprintf("p%.0f of the bridged latencies minus p%.0f of each round's ceiling A + ceiling B latency (%.1f ms)", q, q, ms(percentile(without, q)))}
			edge := perfFigure{Name: fmt.Sprintf("bridge-added latency p%.0f, timed at the bridge's edges", q), Direction: dir.name,
				Value: ms(percentile(dir.edges, q)), Unit: "ms", Detail: edgesDetail[dir.name]}
			if q == 50 {
				diff.Target, diff.Met = "<= 5 ms", boolPtr(diff.Value <= 5)
				edge.Detail += "; an upper bound: it includes whatsmeow's encryption or decryption, which ceiling B pays as well"
			} else {
				edge.Target, edge.Met = "<= 30 ms", boolPtr(edge.Value <= 30)
				diff.Detail += "; at p99 it mostly holds the difference between two draws of the homeserver's tail"
			}
			report.add(diff)
			report.add(edge)
			report.add(perfFigure{Name: fmt.Sprintf("bridge-added latency p%.0f of per-round differences (bridged − A − B)", q), Direction: dir.name,
				Value: ms(percentile(paired, q)), Unit: "ms",
				Detail: "each round's difference; its tail includes the homeserver's latency jitter twice (two independent draws)"})
		}
	}
}

// chatCount says "1 chat", "10 chats".
func chatCount(n int) string {
	if n == 1 {
		return "1 chat"
	}
	return fmt.Sprintf("%d chats", n)
}

const (
	dirW2M = "WhatsApp→Matrix"
	dirM2W = "Matrix→WhatsApp"
)

func (pe *perfEnv) waitMatrix(t testing.TB, ctx context.Context, bodies ...string) time.Time {
	t.Helper()
	times, err := pe.watcher.WaitBodies(ctx, bodies)
	if err != nil {
		t.Fatal(err)
	}
	return latest(times)
}

func (pe *perfEnv) waitWA(t testing.TB, ctx context.Context, bodies ...string) time.Time {
	t.Helper()
	times, err := pe.wa.wait(ctx, bodies)
	if err != nil {
		t.Fatal(err)
	}
	return latest(times)
}

func (pe *perfEnv) waitProbe(t testing.TB, ctx context.Context, bodies ...string) time.Time {
	t.Helper()
	times, err := pe.probe.WaitBodies(ctx, bodies)
	if err != nil {
		t.Fatal(err)
	}
	return latest(times)
}

// measureThroughput sends load.Messages spread over load.Chats chats, every chat at once and each
// chat's messages one after another, on each path: the bridge WhatsApp→Matrix (first, so that a
// profile taken from the start covers it) and ceiling A on the same path, then both
// Matrix→WhatsApp, then ceiling B both ways (many contacts to one, one to many).
func (pe *perfEnv) measureThroughput(t testing.TB, ctx context.Context, load perfLoad, target bool, portals []*perfPortal, sink *wasim.Contact, report *perfReport) {
	perChat := max(load.Messages/load.Chats, 1)
	total := perChat * load.Chats
	tag := fmt.Sprintf("%dc", load.Chats)
	// send runs one sender per chat and returns when every message arrived.
	bridge := perfSubject{pid: pe.BridgePID(), db: pe.db}
	send := func(path string, subject perfSubject, sendOne func(p *perfPortal, body string) error, wait func(bodies ...string) time.Time) perfRun {
		bodies := make([]string, 0, total)
		for c := range load.Chats {
			for j := range perChat {
				bodies = append(bodies, fmt.Sprintf("tp %s %s %d %d", tag, path, c, j))
			}
		}
		// Only the bridge's and the floor's runs of the load with targets report database
		// statistics.
		withStats := target && (path == "w2m" || path == "m2w" || path == "Fw2m" || path == "Fm2w")
		return pe.measure(t, total, withStats, subject, func() time.Time {
			var wg sync.WaitGroup
			errs := make(chan error, load.Chats)
			for c, p := range portals {
				wg.Go(func() {
					for j := range perChat {
						if err := sendOne(p, bodies[c*perChat+j]); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			return wait(bodies...)
		})
	}
	alice := pe.alice.acct.JID()
	matrix := func(bodies ...string) time.Time { return pe.waitMatrix(t, ctx, bodies...) }
	wa := func(bodies ...string) time.Time { return pe.waitWA(t, ctx, bodies...) }
	probe := func(bodies ...string) time.Time { return pe.waitProbe(t, ctx, bodies...) }
	sendW2M := func(p *perfPortal, body string) error { _, err := p.contact.SendText(ctx, alice, body); return err }
	sendAW2M := func(p *perfPortal, body string) error {
		_, err := p.ceilingGhost.SendText(ctx, p.ceilingRoom, body)
		return err
	}
	sendM2W := func(p *perfPortal, body string) error {
		_, err := pe.alice.client.SendText(ctx, p.room, body)
		return err
	}
	sendAM2W := func(p *perfPortal, body string) error {
		_, err := pe.alice.client.SendText(ctx, p.ceilingRoom, body)
		return err
	}
	// Each bridged run is followed at once by ceiling A's on the same path, so that a change in
	// the machine's speed over the minutes of a load (other tenants of its host) falls on both
	// alike; every run starts once the machine is quiet again after the one before (quietAfter).
	w2m := send("w2m", bridge, sendW2M, matrix)
	aW2M := send("Aw2m", bridge, sendAW2M, matrix)
	m2w := send("m2w", bridge, sendM2W, wa)
	aM2W := send("Am2w", bridge, sendAM2W, probe)
	// The load with targets runs the four again in reverse order (bridged, A, A, bridged on each
	// path): a machine that speeds up or slows down steadily over the passes then gives each path
	// the same mean, and a spell of a few seconds weighs half as much as with one pass. Its
	// figures are the two passes together.
	var passes map[string][2]perfRun
	if target {
		aM2W2 := send("Am2w2", bridge, sendAM2W, probe)
		m2w2 := send("m2w2", bridge, sendM2W, wa)
		aW2M2 := send("Aw2m2", bridge, sendAW2M, matrix)
		w2m2 := send("w2m2", bridge, sendW2M, matrix)
		passes = map[string][2]perfRun{"w2m": {w2m, w2m2}, "Aw2m": {aW2M, aW2M2}, "m2w": {m2w, m2w2}, "Am2w": {aM2W, aM2W2}}
		w2m, aW2M, m2w, aM2W = w2m.merge(w2m2), aW2M.merge(aW2M2), m2w.merge(m2w2), aM2W.merge(aM2W2)
	}
	bW2M := send("Bw2m", bridge, func(p *perfPortal, body string) error {
		_, err := p.contact.SendText(ctx, sink.JID(), body)
		return err
	}, wa)
	bM2W := send("Bm2w", bridge, func(p *perfPortal, body string) error {
		_, err := sink.SendText(ctx, p.contact.JID(), body)
		return err
	}, wa)
	// The WhatsApp floor, only where the CPU figures are: the same messages to and from a login
	// that does nothing with them.
	var fW2M, fM2W perfRun
	if target {
		floor := perfSubject{pid: pe.floor.pid, db: pe.floor.db}
		fW2M = send("Fw2m", floor, func(p *perfPortal, body string) error {
			_, err := p.contact.SendText(ctx, pe.floor.jid, body)
			return err
		}, func(bodies ...string) time.Time {
			times, err := pe.floor.wait(ctx, bodies)
			if err != nil {
				t.Fatal(err)
			}
			return latest(times)
		})
		fM2W = send("Fm2w", floor, func(p *perfPortal, body string) error { return pe.floor.send(p.contact.JID(), body) }, wa)
	}

	at := ", " + chatCount(load.Chats)
	for _, dir := range []struct {
		name       string
		bridged, a perfRun
		b, floor   perfRun
		// passes are the two passes' runs of the load with targets (bridged, ceiling A).
		passes [2][2]perfRun
	}{{dirW2M, w2m, aW2M, bW2M, fW2M, [2][2]perfRun{passes["w2m"], passes["Aw2m"]}},
		{dirM2W, m2w, aM2W, bM2W, fM2W, [2][2]perfRun{passes["m2w"], passes["Am2w"]}}} {
		report.add(perfFigure{Name: "throughput to the last arrival, " + chatCount(load.Chats), Direction: dir.name, Value: dir.bridged.PerSecond, Unit: "msg/s",
			CeilingA: dir.a.PerSecond, CeilingB: dir.b.PerSecond, Ratio: dir.bridged.PerSecond / dir.a.PerSecond,
			Detail: "messages ÷ (first send → last arrival); work left behind for after the last arrival is not counted"})
		// The sustained figure holds the target: a steady load cannot leave work for later, and a
		// path that sends faster leaves the homeserver more of it (Dendrite's notification
		// bookkeeping falls further behind), which the arrival figure alone rewards.
		f := perfFigure{Name: "sustained throughput, " + chatCount(load.Chats), Direction: dir.name, Value: dir.bridged.SustainedPerSecond, Unit: "msg/s",
			CeilingA: dir.a.SustainedPerSecond, CeilingB: dir.b.SustainedPerSecond, Ratio: dir.bridged.SustainedPerSecond / dir.a.SustainedPerSecond,
			Detail: sustainedDetail(dir.bridged, dir.a, target, dir.passes)}
		if target {
			f.Target, f.Met = ">= 0.9 × A", boolPtr(f.Ratio >= 0.9)
		}
		report.add(f)
		record := perfRunRecord{Load: load, Direction: dir.name, Bridged: dir.bridged, CeilingA: dir.a, CeilingB: dir.b}
		if target {
			record.Floor = &dir.floor
			record.BridgedPasses, record.CeilingAPasses = dir.passes[0][:], dir.passes[1][:]
		}
		report.Runs = append(report.Runs, record)
		if !target {
			continue
		}
		cpu := dir.bridged.BridgeCPUms + dir.bridged.DBCPUms
		report.add(perfFigure{Name: "bridge CPU per message" + at, Direction: dir.name, Value: dir.bridged.BridgeCPUms, Unit: "ms/msg"})
		report.add(perfFigure{Name: "database backends' CPU per message" + at, Direction: dir.name, Value: dir.bridged.DBCPUms, Unit: "ms/msg"})
		report.add(perfFigure{Name: "bridge + database CPU per message" + at, Direction: dir.name, Value: cpu, Unit: "ms/msg",
			Target: "<= 2.5 ms", Met: boolPtr(cpu <= 2.5)})
		floorCPU := dir.floor.BridgeCPUms + dir.floor.DBCPUms
		report.add(perfFigure{Name: "WhatsApp floor: CPU per message (login process + its database)" + at, Direction: dir.name, Value: floorCPU, Unit: "ms/msg",
			Detail: fmt.Sprintf("the WhatsApp login as the bridge runs it, doing nothing with the messages (internal/e2e/wafloor): process %.2f ms, database %.2f ms, %.2f transactions and %.2f rows written per message; %.1f msg/s",
				dir.floor.BridgeCPUms, dir.floor.DBCPUms, dir.floor.DBTransactions, dir.floor.DBRowsWritten, dir.floor.PerSecond)})
		report.add(perfFigure{Name: "bridge + database CPU beyond the WhatsApp floor" + at, Direction: dir.name, Value: cpu - floorCPU, Unit: "ms/msg",
			Detail: "bridged − floor: what bridging costs on top of keeping the WhatsApp login"})
		report.add(perfFigure{Name: "database transactions per message" + at, Direction: dir.name, Value: dir.bridged.DBTransactions, Unit: "txn/msg"})
		report.add(perfFigure{Name: "database connections opened per message" + at, Direction: dir.name, Value: dir.bridged.DBConnections, Unit: "conn/msg"})
		report.add(perfFigure{Name: "database rows written per message" + at, Direction: dir.name, Value: dir.bridged.DBRowsWritten, Unit: "rows/msg",
			Detail: formatPerTable(dir.bridged.DBRowsByTable)})
		report.add(perfFigure{Name: "homeserver CPU per message" + at, Direction: dir.name, Value: dir.bridged.HomeserverCPUms, Unit: "ms/msg",
			CeilingA: dir.a.HomeserverCPUms})
		// Every process of the run shares the machine's cores: when they are busy, throughput goes
		// as the inverse of the machine's CPU per message, whosever it is.
		report.add(perfFigure{Name: "machine CPU per message (all processes)" + at, Direction: dir.name, Value: dir.bridged.MachineCPUms, Unit: "ms/msg",
			CeilingA: dir.a.MachineCPUms, Ratio: dir.a.MachineCPUms / dir.bridged.MachineCPUms,
			Detail: fmt.Sprintf("machine busy %.0f%% of %d cores in the bridged run, %.0f%% in ceiling A's; the ratio is ceiling A's figure ÷ this one, the throughput ratio a machine saturated by both would allow", 100*dir.bridged.MachineBusy, runtime.NumCPU(), 100*dir.a.MachineBusy)})
		// The benchmark process holds the simulated WhatsApp, whose work (encrypting, routing
		// and decrypting the contacts' side) a real deployment does not pay, and the clients
		// both paths share: without it, the ratio a machine saturated by both would allow if
		// WhatsApp's side ran elsewhere.
		bridgedOwn, aOwn := dir.bridged.MachineCPUms-dir.bridged.HarnessCPUms, dir.a.MachineCPUms-dir.a.HarnessCPUms
		report.add(perfFigure{Name: "machine CPU per message without the benchmark process" + at, Direction: dir.name, Value: bridgedOwn, Unit: "ms/msg",
			CeilingA: aOwn, Ratio: aOwn / bridgedOwn,
			Detail: fmt.Sprintf("the benchmark process (the simulated WhatsApp server and contacts, the Matrix clients, the probe appservice) took %.2f ms per message in the bridged run, %.2f ms in ceiling A's; the ratio is ceiling A's figure ÷ this one", dir.bridged.HarnessCPUms, dir.a.HarnessCPUms)})
		want := 1.0
		if dir.name == dirM2W {
			want = 0
		}
		report.add(perfFigure{Name: "homeserver requests by the bridge per message" + at, Direction: dir.name, Value: dir.bridged.HSRequests, Unit: "requests/msg",
			Target: fmt.Sprintf("<= %.0f", want), Met: boolPtr(dir.bridged.HSRequests <= want+0.005), Detail: dir.bridged.Requests.String()})
		report.add(perfFigure{Name: "homeserver connections opened by the bridge per message" + at, Direction: dir.name, Value: dir.bridged.HSConnections, Unit: "conn/msg"})
	}
}
