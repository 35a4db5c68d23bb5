package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// faultForm sizes a run of the fault suite. FAULTS=full (make faults) runs the full form,
// FAULTS=medium and FAULTS=small shorter ones; by default (make test) the short form runs.
// FAULTS_SCENARIOS (e.g. "a,c") limits the forms other than short to some scenarios.
type faultForm struct {
	name        string
	perChat     int           // numbered messages per chat, per direction, per scenario
	window      time.Duration // how long each scenario streams while its faults happen
	kills       int           // (a) SIGKILLs of the bridge
	hsOutage    time.Duration // (b) how long the homeserver is down
	waOutage    time.Duration // (c) how long WhatsApp is unreachable
	dbRestarts  int           // (d) database restarts
	drops       int           // (e) WhatsApp connection drops, dropEvery apart
	dropEvery   time.Duration
	combined    bool          // the short form: b with d inside, then a
	recoverWait time.Duration // how long a scenario may take to deliver everything after its faults
	timeout     time.Duration
}

var faultForms = map[string]faultForm{
	"short": {name: "short", perChat: 3, window: 8 * time.Second, kills: 1, hsOutage: 60 * time.Second,
		waOutage: 8 * time.Second, dbRestarts: 1, drops: 2, dropEvery: 2 * time.Second, combined: true,
		recoverWait: 3 * time.Minute, timeout: 15 * time.Minute},
	"medium": {name: "medium", perChat: 25, window: 90 * time.Second, kills: 5, hsOutage: 5 * time.Minute,
		waOutage: 5 * time.Minute, dbRestarts: 3, drops: 20, dropEvery: 4 * time.Second,
		recoverWait: 10 * time.Minute, timeout: time.Hour},
	"small": {name: "small", perChat: 5, window: 20 * time.Second, kills: 3, hsOutage: 60 * time.Second,
		waOutage: 60 * time.Second, dbRestarts: 1, drops: 6, dropEvery: 3 * time.Second,
		recoverWait: 5 * time.Minute, timeout: 40 * time.Minute},
	"full": {name: "full", perChat: 100, window: 5 * time.Minute, kills: 10, hsOutage: 20 * time.Minute,
		waOutage: 30 * time.Minute, dbRestarts: 5, drops: 60, dropEvery: 3 * time.Second,
		recoverWait: 30 * time.Minute, timeout: 4 * time.Hour},
}

// pendingNotice is what the bridge says in a room whose Matrix messages wait for WhatsApp.
const pendingNotice = "WhatsApp is not reachable right now"

// faultRig is the running scene: Dendrite (event stream on disk), a private PostgreSQL cluster, the
// simulator and the bridge binary, three bridge users and 20 chats.
type faultRig struct {
	t       *testing.T
	ctx     context.Context
	form    faultForm
	env     *waEnv
	db      *testdb.Cluster
	users   []*loggedInUser
	chats   []*faultChat
	results []faultResult
	// setupStart is when the rig started to set up.
	setupStart time.Time
}

// faultResult is one row of the suite's table.
type faultResult struct {
	scenario, label string
	wa, mx          streamStats
	faults          int
	recovered       time.Duration
	start           time.Time
	perChat         int
}

// TestFaultInjection streams numbered messages both ways across 20 chats (15 DMs and 5 groups, one
// of them shared by two bridge users; three bridge users) while faults hit the bridge, and checks
// that every message arrived exactly once and, per chat, in order: (a) the bridge SIGKILLed and
// restarted, (b) the homeserver down while WhatsApp messages keep coming, (c) WhatsApp unreachable
// while Matrix users keep writing (each room is told once that messages are pending), (d) the
// database restarted, (e) the WhatsApp connections dropped every few seconds and (f) all of these in
// one run. It prints a table of the figures. The short form (the default, in make test) runs b with
// d inside the homeserver outage, then a with one kill; c, e and f run in the longer forms.
func TestFaultInjection(t *testing.T) {
	t.Parallel()
	formName := os.Getenv("FAULTS")
	if formName == "" {
		formName = "short"
	}
	form, ok := faultForms[formName]
	if !ok {
		t.Fatalf("FAULTS=%q: want short, small, medium or full", formName)
	}
	only := map[string]bool{}
	for _, label := range strings.Split(os.Getenv("FAULTS_SCENARIOS"), ",") {
		if label = strings.TrimSpace(label); label != "" {
			if !strings.Contains("abcdef", label) || len(label) != 1 {
				t.Fatalf("FAULTS_SCENARIOS=%q: want labels a to f, separated by commas", os.Getenv("FAULTS_SCENARIOS"))
			}
			only[label] = true
		}
	}
	e2e.SkipInShortMode(t)
	ctx, cancel := context.WithTimeout(context.Background(), form.timeout)
	defer cancel()
	r := newFaultRig(t, ctx, form)
	run := func(name, label string, fault func() int) {
		if len(only) == 0 || only[label] {
			r.scenario(name, label, fault)
		}
	}
	started := time.Now()
	defer func() {
		t.Logf("fault suite: %s form ran %s after a set-up of %s", form.name, time.Since(started).Round(time.Second), started.Sub(r.setupStart).Round(time.Second))
	}()

	if form.combined {
		// The short form keeps make test short: one set-up, one scenario overlapping b and d, and
		// one kill of the bridge.
		r.scenario("b+d: homeserver down, database restarted meanwhile", "b", r.homeserverDownAndDatabase)
		r.scenario("a: bridge SIGKILLed", "a", r.killBridge)
	} else {
		run("a: bridge SIGKILLed", "a", r.killBridge)
		run("b: homeserver down", "b", r.homeserverDown)
		start := time.Now()
		run("c: WhatsApp unreachable", "c", r.whatsAppDown)
		if len(only) == 0 || only["c"] {
			r.checkPendingNotices(start, time.Now())
		}
		run("d: database restarted", "d", r.databaseRestarts)
		run("e: WhatsApp connection drops", "e", r.connectionDrops)
		run("f: all at once", "f", r.allAtOnce)
	}
	r.report()
}

func newFaultRig(t *testing.T, ctx context.Context, form faultForm) *faultRig {
	setupStart := time.Now()
	cluster := testdb.NewCluster(t)
	// Dendrite keeps its event stream on disk, so that events it has not pushed to the bridge yet
	// survive its restart, as in production.
	env := newWAEnvWith(t, e2e.Options{PersistentJetStream: true}, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "database.type", "postgres")
		e2e.SetConfig(cfg, "database.uri", cluster.URI())
		// FAULTS_LOG_LEVEL=debug traces a lost message through the bridge's log (kept when the
		// test fails); info keeps the log small.
		level := os.Getenv("FAULTS_LOG_LEVEL")
		if level == "" {
			level = "info"
		}
		e2e.SetConfig(cfg, "logging.level", level)
	})
	r := &faultRig{t: t, ctx: ctx, form: form, env: env, db: cluster, setupStart: setupStart}
	t.Cleanup(r.keepLogs)
	for i, name := range []string{"alice", "bob", "dave"} {
		r.users = append(r.users, newLoggedInUser(t, ctx, env, name, fmt.Sprintf("49151000000%02d", i+1)))
	}
	r.openChats()
	// Each Matrix user's client follows its /sync from here on: the rooms as the user sees them
	// live, compared in the end with the rooms as a client loading them afresh shows them, which
	// the scenarios are judged by.
	views := make(map[id.UserID]*e2e.Watcher, len(r.users))
	for _, u := range r.users {
		views[u.client.UserID] = env.NewWatcher(u.client, nil)
	}
	for _, c := range r.chats {
		c.view = views[c.user.client.UserID]
	}
	return r
}

// openChats creates 15 DMs (five per bridge user) and 5 groups, the first shared by alice and bob,
// and has each user join its portals.
func (r *faultRig) openChats() {
	t, ctx := r.t, r.ctx
	skip := make(map[id.UserID][]id.RoomID)
	for _, u := range r.users {
		skip[u.client.UserID] = []id.RoomID{u.room}
	}
	for k := range 15 {
		phone := fmt.Sprintf("4917600001%02d", k)
		contact, ghost := newContact(t, ctx, r.env, phone, fmt.Sprintf("Contact %02d", k))
		user := r.users[k%3]
		c := &faultChat{name: fmt.Sprintf("c%02d", k), user: user, contact: contact, ghost: ghost, to: user.acct.JID()}
		if _, err := contact.SendText(ctx, c.to, "hello "+c.name); err != nil {
			t.Fatal(err)
		}
		r.chats = append(r.chats, c)
	}
	for _, c := range r.chats {
		c.room = joinPortal(t, ctx, r.env, c.user.client, c.ghost)
		skip[c.user.client.UserID] = append(skip[c.user.client.UserID], c.room)
	}
	for g := range 5 {
		creator := r.chats[g].contact
		members := []*loggedInUser{r.users[g%3]}
		if g == 0 {
			members = append(members, r.users[1])
		}
		var accts []*wasim.Account
		for _, m := range members {
			accts = append(accts, m.acct)
		}
		group, err := r.env.WA.CreateGroup(ctx, creator.Account(), fmt.Sprintf("Group %d", g), accts...)
		if err != nil {
			t.Fatal(err)
		}
		c := &faultChat{name: fmt.Sprintf("c%02d", 15+g), user: members[0], contact: creator,
			ghost: r.chats[g].ghost, to: group, group: true}
		if _, err = creator.SendText(ctx, group, "hello "+c.name); err != nil {
			t.Fatal(err)
		}
		for _, m := range members {
			room := joinPortal(t, ctx, r.env, m.client, r.env.BotMXID(), skip[m.client.UserID]...)
			skip[m.client.UserID] = append(skip[m.client.UserID], room)
			if m == members[0] {
				c.room = room
			}
		}
		r.env.WaitForMessage(ctx, c.user.client, c.room, fromGhost(c.ghost, "hello "+c.name))
		r.chats = append(r.chats, c)
	}
}

// scenario streams one scenario's messages while fault runs (in the test's goroutine, returning
// how many faults it injected), then waits until everything arrived and records the figures.
func (r *faultRig) scenario(name, label string, fault func() int) {
	r.t.Logf("fault suite: scenario %s starts", name)
	start := time.Now()
	s := &streamer{phase: label, perChat: r.form.perChat, pace: r.form.window / time.Duration(r.form.perChat)}
	sendCtx, cancel := context.WithTimeout(r.ctx, r.form.recoverWait+r.form.window+r.form.hsOutage+r.form.waOutage)
	defer cancel()
	s.start(sendCtx, r.chats)
	faults := fault()
	faultsEnded := time.Now()
	s.wait()
	waitCtx, cancelWait := context.WithTimeout(r.ctx, r.form.recoverWait)
	defer cancelWait()
	wa, mx, problems := waitStreamDelivered(waitCtx, r.chats, label, r.form.perChat)
	if len(problems) > 0 {
		r.t.Logf("fault suite: scenario %s ended (after waiting up to %s) with messages missing, doubled or out of order:\n%s", name, r.form.recoverWait, strings.Join(problems, "\n"))
	}
	res := faultResult{scenario: name, label: label, wa: wa, mx: mx, faults: faults,
		recovered: time.Since(faultsEnded).Round(time.Second), start: start, perChat: r.form.perChat}
	r.results = append(r.results, res)
	r.t.Logf("fault suite: scenario %s done in %s (%d send retries)", name, time.Since(start).Round(time.Second), s.retries.Load())
}

// report tallies every scenario once more (a late duplicate shows now), says what the users'
// live /sync missed, prints the table and fails the test for anything lost, doubled or out of
// order.
func (r *faultRig) report() {
	// Room messages per scenario: both directions, a placeholder and its edit for each WhatsApp
	// message the bridge could not decrypt at once, and notices.
	limit := len(r.results)*(4*r.form.perChat+40) + 200
	for i := range r.results {
		res := &r.results[i]
		wa, mx, problems, err := tally(r.ctx, r.chats, res.label, res.perChat, limit, true)
		if err != nil {
			r.t.Fatalf("failed to read the rooms: %v", err)
		}
		res.wa, res.mx = wa, mx
		if !wa.clean() || !mx.clean() {
			r.t.Errorf("scenario %s: WhatsApp->Matrix %+v, Matrix->WhatsApp %+v; want nothing lost, doubled or out of order:\n%s",
				res.scenario, wa, mx, strings.Join(problems, "\n"))
		}
	}
	table := faultTable(r.form.name, r.results)
	r.t.Log("\n" + table)
	if path := os.Getenv("FAULTS_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			r.t.Errorf("failed to write %s: %v", path, err)
		}
	}
}

// faultTable renders the results as a Markdown table.
func faultTable(form string, results []faultResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Fault suite, %s form, 20 chats (15 DMs, 5 groups), 3 bridge users\n\n", form)
	b.WriteString("| scenario | direction | sent | delivered | duplicated | lost | out of order | faults injected | time to recover |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, res := range results {
		for _, d := range []struct {
			name string
			st   streamStats
		}{{"WhatsApp -> Matrix", res.wa}, {"Matrix -> WhatsApp", res.mx}} {
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %d | %s |\n", res.scenario, d.name,
				d.st.sent, d.st.delivered, d.st.duplicated, d.st.lost, d.st.outOfOrder, res.faults, res.recovered)
		}
	}
	for _, res := range results {
		if res.mx.hsDuplicated+res.mx.hsLost > 0 {
			fmt.Fprintf(&b, "\n%s: the homeserver stored %d Matrix messages twice (a client retry across its restart), and %d never reached the users' own clients (/sync: not stored); counted apart from the bridge's figures.", res.scenario, res.mx.hsDuplicated, res.mx.hsLost)
		}
		if res.wa.liveMissed > 0 {
			fmt.Fprintf(&b, "\n%s: %d WhatsApp messages were in their rooms but never reached the Matrix users' clients live (their /sync, following along, missed them; a reload shows them): the homeserver's, counted as delivered.", res.scenario, res.wa.liveMissed)
		}
	}
	return b.String()
}

// checkPendingNotices checks that each room was told once (not per message) that its messages wait
// for WhatsApp during the outage that started at since, counting the notices sent until until.
func (r *faultRig) checkPendingNotices(since, until time.Time) {
	for _, c := range r.chats {
		timeline, err := e2e.Timeline(r.ctx, c.user.client, c.room, 4*r.form.perChat+100)
		if err != nil {
			r.t.Fatal(err)
		}
		n := 0
		for _, evt := range timeline {
			if evt.Sender == r.env.BotMXID() && evt.Type == event.EventMessage &&
				time.UnixMilli(evt.Timestamp).After(since.Add(-time.Second)) && time.UnixMilli(evt.Timestamp).Before(until) &&
				strings.Contains(evt.Content.AsMessage().Body, pendingNotice) {
				n++
			}
		}
		if n != 1 {
			r.t.Errorf("room of %s got %d notices that messages are pending during the WhatsApp outage, want 1", c.name, n)
		}
	}
}

// keepLogs copies the bridge's and Dendrite's logs out of the test's folder (removed when the test
// ends) when the test failed, so that a lost or doubled message can be traced by its text.
func (r *faultRig) keepLogs() {
	if !r.t.Failed() {
		return
	}
	dir, err := os.MkdirTemp("", "fault-suite-logs-")
	if err != nil {
		return
	}
	for _, path := range []string{r.env.BridgeLogPath(), r.env.DendriteLogPath()} {
		if data, err := os.ReadFile(path); err == nil {
			_ = os.WriteFile(filepath.Join(dir, filepath.Base(path)), data, 0o600)
		}
	}
	r.t.Logf("fault suite: logs kept in %s", dir)
}
