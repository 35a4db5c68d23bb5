package tests

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// perfReport is the performance run's result: the machine it ran on and every figure.
type perfReport struct {
	Date      string `json:"date"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
	Cores     int    `json:"cores"`
	OS        string `json:"os"`

	lock    sync.Mutex
	Figures []perfFigure `json:"figures"`
	// Runs are the throughput runs in full (every path, every resource reading).
	Runs []perfRunRecord `json:"throughput_runs"`
	// LatencyRounds are the latency rounds' send-to-arrival times in milliseconds, in the order
	// sent, by path (w2m, m2w, a_w2m, a_m2w, b), for a look at what makes the tail.
	LatencyRounds map[string][]float64 `json:"latency_rounds_ms,omitempty"`
}

// perfFigure is one line of the table.
type perfFigure struct {
	Name      string  `json:"name"`
	Direction string  `json:"direction,omitempty"`
	Value     float64 `json:"value"`
	Unit      string  `json:"unit"`
	// CeilingA is the homeserver alone on the same path (0: not applicable), CeilingB the WhatsApp
	// side alone (a whatsmeow client straight to a simulator contact), both measured in this run.
	CeilingA float64 `json:"ceiling_a,omitempty"`
	CeilingB float64 `json:"ceiling_b,omitempty"`
	// Ratio is Value / CeilingA for throughput figures.
	Ratio  float64 `json:"ratio_to_a,omitempty"`
	Target string  `json:"target,omitempty"`
	// Met is whether the target is met (nil: the figure has no target).
	Met    *bool  `json:"met,omitempty"`
	Detail string `json:"detail,omitempty"`
}

type perfRunRecord struct {
	Load      perfLoad `json:"load"`
	Direction string   `json:"direction"`
	Bridged   perfRun  `json:"bridged"`
	CeilingA  perfRun  `json:"ceiling_a"`
	CeilingB  perfRun  `json:"ceiling_b"`
	// Floor is the WhatsApp floor's run of the same load (the load with targets only).
	Floor *perfRun `json:"whatsapp_floor,omitempty"`
	// BridgedPasses and CeilingAPasses are the load with targets' two passes (measureThroughput);
	// Bridged and CeilingA are then both together.
	BridgedPasses  []perfRun `json:"bridged_passes,omitempty"`
	CeilingAPasses []perfRun `json:"ceiling_a_passes,omitempty"`
}

func newPerfReport() *perfReport {
	r := &perfReport{Date: time.Now().UTC().Format(time.RFC3339), GoVersion: runtime.Version(), Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		r.Commit = strings.TrimSpace(string(out))
		if status, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(status) > 0 {
			r.Commit += " (with uncommitted changes)"
		}
	}
	return r
}

func (r *perfReport) add(f perfFigure) {
	r.lock.Lock()
	defer r.lock.Unlock()
	r.Figures = append(r.Figures, f)
}

// ceilingA returns ceiling A's throughput in a direction with the given number of chats, for
// figures compared with it.
func (r *perfReport) ceilingA(direction string, chats int) float64 {
	for _, run := range r.Runs {
		if run.Direction == direction && run.Load.Chats == chats {
			return run.CeilingA.PerSecond
		}
	}
	return 0
}

// table formats the report as a Markdown table with a header naming the machine.
func (r *perfReport) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Performance of matrix-whatsapp: %s, commit %s, %s, %d cores, %s\n\n", r.Date, r.Commit, r.GoVersion, r.Cores, r.OS)
	b.WriteString("| Figure | Direction | Value | Ceiling A | Ceiling B | Ratio to A | Target | Met |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---|---|\n")
	num := func(v float64) string {
		switch {
		case v == 0:
			return ""
		case math.Abs(v) >= 100:
			return strconv.FormatFloat(v, 'f', 0, 64)
		case math.Abs(v) >= 10:
			return strconv.FormatFloat(v, 'f', 1, 64)
		default:
			return strconv.FormatFloat(v, 'f', 2, 64)
		}
	}
	for _, f := range r.Figures {
		met := ""
		if f.Met != nil {
			met = map[bool]string{true: "met", false: "NOT MET"}[*f.Met]
		}
		value := num(f.Value)
		if value == "" {
			value = "0"
		}
		ratio := ""
		if f.Ratio != 0 {
			ratio = strconv.FormatFloat(f.Ratio, 'f', 2, 64) + "×"
		}
		fmt.Fprintf(&b, "| %s | %s | %s %s | %s | %s | %s | %s | %s |\n", f.Name, f.Direction, value, f.Unit, num(f.CeilingA), num(f.CeilingB), ratio, f.Target, met)
	}
	b.WriteString("\nCeiling A: the homeserver alone (an appservice ghost sending to the same Matrix user for WhatsApp→Matrix, " +
		"through a proxy like the bridge's, in rooms with a portal's members: the user, the ghost and the appservice's muted bot; " +
		"the same Matrix user's messages pushed to a bare appservice for Matrix→WhatsApp). Ceiling B: a whatsmeow client " +
		"sending straight to a simulator contact. Both measured in this run, on the same machine, interleaved with the bridge's runs.\n")
	for _, f := range r.Figures {
		switch {
		case f.Detail == "":
		case f.Direction == "":
			fmt.Fprintf(&b, "\n%s: %s\n", f.Name, f.Detail)
		default:
			fmt.Fprintf(&b, "\n%s, %s: %s\n", f.Name, f.Direction, f.Detail)
		}
	}
	return b.String()
}

// print logs the table and, with BENCH_REPORT set, writes BENCH_REPORT.md (the table) and
// BENCH_REPORT.json (everything).
func (r *perfReport) print(t testing.TB) {
	t.Helper()
	table := r.table()
	base := os.Getenv("BENCH_REPORT")
	if base == "" {
		// On stdout rather than t.Log: go test shows a parent benchmark's log only when it fails.
		fmt.Printf("\n%s\n", table)
		return
	}
	// make bench prints the written table last, after go test's own lines.
	fmt.Printf("\nThe table is in %s.md, every figure in %s.json.\n", base, base)
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err = os.WriteFile(base+".json", append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	if err = os.WriteFile(base+".md", []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
}

func percentile(values []time.Duration, q float64) time.Duration {
	if len(values) == 0 {
		return 0
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	i := int(math.Ceil(q/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// machineTimes are the machine's CPU times summed over all cores since boot, from the first line
// of /proc/stat (proc(5): user, nice, system, idle, iowait, irq, softirq, steal, in USER_HZ
// ticks).
type machineTimes struct{ busy, idle time.Duration }

// userHZ is the tick of /proc/stat's times: sysconf(_SC_CLK_TCK), 100 on every Linux platform
// Go supports.
const userHZ = 100

func machineCPU(t testing.TB) machineTimes {
	t.Helper()
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatalf("failed to read the machine's CPU times: %v", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		t.Fatalf("unexpected first line of /proc/stat: %q", line)
	}
	var ticks [8]int64
	for i := range ticks {
		if ticks[i], err = strconv.ParseInt(fields[1+i], 10, 64); err != nil {
			t.Fatalf("unexpected first line of /proc/stat: %q", line)
		}
	}
	tick := time.Second / userHZ
	busy := ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
	return machineTimes{busy: time.Duration(busy) * tick, idle: time.Duration(ticks[3]+ticks[4]) * tick}
}

func (m machineTimes) since(before machineTimes) machineTimes {
	return machineTimes{busy: m.busy - before.busy, idle: m.idle - before.idle}
}

// busyShare is the share of all cores' time that was busy (0 to 1).
func (m machineTimes) busyShare() float64 {
	if total := m.busy + m.idle; total > 0 {
		return float64(m.busy) / float64(total)
	}
	return 0
}

func latest(times []time.Time) time.Time {
	var last time.Time
	for _, at := range times {
		if at.After(last) {
			last = at
		}
	}
	return last
}

func boolPtr(v bool) *bool { return &v }

// cpuTime reads a process's CPU time: the sum of its threads' time on a CPU from
// /proc/<pid>/task/*/schedstat (nanoseconds, exact, where /proc/<pid>/stat counts 10 ms ticks). A
// thread that ended meanwhile takes its time with it; Go programs and PostgreSQL backends keep
// their threads.
func cpuTime(t testing.TB, pid int) time.Duration {
	t.Helper()
	d, err := readCPUTime(pid)
	if err != nil {
		t.Fatalf("failed to read the CPU time of process %d: %v", pid, err)
	}
	return d
}

func readCPUTime(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, task := range tasks {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/schedstat")
		if err != nil {
			continue // the thread ended
		}
		fields := strings.Fields(string(data))
		if len(fields) < 1 {
			return 0, fmt.Errorf("unreadable schedstat of process %d", pid)
		}
		ns, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unreadable schedstat of process %d: %w", pid, err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}

// pgBackends reads the CPU time of the PostgreSQL backend processes serving one database (the
// bridge's), found through pg_stat_activity.
type pgBackends struct {
	conn *sql.Conn
}

func openPGBackends(t testing.TB, uri string) *pgBackends {
	t.Helper()
	db, err := sql.Open("postgres", uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatalf("failed to connect to the bridge database: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &pgBackends{conn: conn}
}

// backendCPU is CPU time by backend process ID.
type backendCPU map[int]time.Duration

// since sums the CPU time the backends spent after earlier was read; a backend that started
// since counts in full.
func (now backendCPU) since(earlier backendCPU) time.Duration {
	var total time.Duration
	for pid, d := range now {
		total += d - earlier[pid]
	}
	return total
}

func (p *pgBackends) cpu(t testing.TB) backendCPU {
	t.Helper()
	rows, err := p.conn.QueryContext(context.Background(),
		"SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
	if err != nil {
		t.Fatalf("failed to list the database's backends: %v", err)
	}
	defer rows.Close()
	out := make(backendCPU)
	for rows.Next() {
		var pid int
		if err = rows.Scan(&pid); err != nil {
			t.Fatal(err)
		}
		// A backend that ended meanwhile has no CPU time to read any more.
		if d, err := readCPUTime(pid); err == nil {
			out[pid] = d
		}
	}
	if err = rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// dbStats are counters of PostgreSQL's statistics for one database.
type dbStats struct {
	transactions int64
	// sessions are connections opened to the database.
	sessions int64
	// rows are rows inserted, updated or deleted, by table.
	rows map[string]int64
}

func (s dbStats) since(earlier dbStats) dbStats {
	out := dbStats{transactions: s.transactions - earlier.transactions, sessions: s.sessions - earlier.sessions, rows: make(map[string]int64)}
	for table, n := range s.rows {
		if d := n - earlier.rows[table]; d > 0 {
			out.rows[table] = d
		}
	}
	return out
}

func (s dbStats) rowsWritten() int64 {
	var total int64
	for _, n := range s.rows {
		total += n
	}
	return total
}

func (s dbStats) perMessage(messages float64) map[string]float64 {
	out := make(map[string]float64, len(s.rows))
	for table, n := range s.rows {
		out[table] = float64(n) / messages
	}
	return out
}

// formatPerTable lists per-table figures, largest first.
func formatPerTable(perTable map[string]float64) string {
	tables := make([]string, 0, len(perTable))
	for table := range perTable {
		tables = append(tables, table)
	}
	slices.SortFunc(tables, func(a, b string) int {
		if perTable[a] != perTable[b] {
			if perTable[a] > perTable[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(tables))
	for i, table := range tables {
		parts[i] = fmt.Sprintf("%.2f %s", perTable[table], table)
	}
	return strings.Join(parts, ", ")
}

// stats reads the database's transaction count (commits and rollbacks) and rows written per
// table, as published by the backends (see perfStatsSettle for when they publish).
func (p *pgBackends) stats(t testing.TB) dbStats {
	t.Helper()
	ctx := context.Background()
	var s dbStats
	if err := p.conn.QueryRowContext(ctx,
		"SELECT xact_commit + xact_rollback, sessions FROM pg_stat_database WHERE datname = current_database()").Scan(&s.transactions, &s.sessions); err != nil {
		t.Fatalf("failed to read the database's statistics: %v", err)
	}
	rows, err := p.conn.QueryContext(ctx, "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables")
	if err != nil {
		t.Fatalf("failed to read the tables' statistics: %v", err)
	}
	defer rows.Close()
	s.rows = make(map[string]int64)
	for rows.Next() {
		var table string
		var n int64
		if err = rows.Scan(&table, &n); err != nil {
			t.Fatal(err)
		}
		s.rows[table] = n
	}
	if err = rows.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// perfIdleWait is how long the bridge is left alone after start-up before its memory is read.
const perfIdleWait = 5 * time.Second

// idleRSS waits perfIdleWait and returns the process's resident memory in MB (VmRSS) and a detail
// line splitting it into anonymous memory (heap, stacks, the Go runtime's) and file-backed pages
// (mostly the executable's own code and read-only data; how much of the file is resident depends
// on the kernel, which may map it in huge pages).
func idleRSS(t testing.TB, pid int) (float64, string) {
	t.Helper()
	time.Sleep(perfIdleWait)
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]float64{}
	for _, line := range strings.Split(string(data), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasSuffix(rest, " kB") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			t.Fatalf("unreadable %s %q", name, rest)
		}
		fields[name] = kb / 1024
	}
	rss, ok := fields["VmRSS"]
	if !ok {
		t.Fatalf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, fmt.Sprintf("%.1f MB anonymous (heap, stacks, runtime), %.1f MB file-backed (the executable's pages)", fields["RssAnon"], fields["RssFile"])
}

// seedPortals adds count one-to-one portals of the bridge user whose WhatsApp JID is receiver
// straight into the bridge's PostgreSQL database, numbered from first. Their rooms do not exist on
// the homeserver: the figures they serve (idle memory, start-up) are about what the bridge keeps
// and loads per portal, and creating ten thousand real rooms would take the run an hour.
func seedPortals(t testing.TB, ctx context.Context, uri, receiver string, first, count int) {
	t.Helper()
	db, err := sql.Open("postgres", uri)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UnixMilli()
	user := strings.TrimSuffix(receiver, "@"+types.DefaultUserServer)
	_, err = db.ExecContext(ctx, `
		INSERT INTO portals (jid, receiver, mxid, name, name_set, created_at, room_created_at)
		SELECT '49179' || lpad(g::text, 8, '0') || '@`+types.DefaultUserServer+`', $1,
			'!seed' || g || '_' || $2 || ':`+e2e.Domain+`', 'Seeded chat ' || g, true, $3, $3
		FROM generate_series($4::int, $5::int) AS g`,
		receiver, user, now, first, first+count-1)
	if err != nil {
		t.Fatalf("failed to seed %d portals: %v", count, err)
	}
}

// measureBackfill links a fresh account whose phone holds history and times the backfill into
// new portals, reported next to ceiling A WhatsApp→Matrix.
func (pe *perfEnv) measureBackfill(t testing.TB, ctx context.Context, sizes perfSizes, report *perfReport) {
	perChat := max(sizes.BackfillMessages/sizes.BackfillChats, 1)
	total, elapsed := timeBackfill(t, ctx, pe.waEnv, "bob", "4915112400900", "4915590", sizes.BackfillChats, perChat)
	perSecond := float64(total) / elapsed.Seconds()
	a := report.ceilingA(dirW2M, sizes.TargetChats)
	report.add(perfFigure{Name: fmt.Sprintf("history backfill, %d messages in %d chats", total, sizes.BackfillChats), Direction: dirW2M,
		Value: perSecond, Unit: "msg/s", CeilingA: a, Ratio: perSecond / a})
}

// timeBackfill logs localpart in as a new account (phone) whose phone holds chats × perChat
// messages of history (contacts' numbers start with prefix) and holds back its last chunk; the
// clock runs from when the phone sends that chunk (the bridge then backfills everything it
// collected) until the summary is in the management room.
func timeBackfill(t testing.TB, ctx context.Context, env *waEnv, localpart, phone, prefix string, chats, perChat int) (int, time.Duration) {
	t.Helper()
	acct, err := env.WA.CreateAccount(ctx, phone, "Backfill")
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(-time.Hour)
	if _, err = acct.SeedHistory(wasim.SeedOptions{Chats: chats, Messages: perChat, Span: 24 * time.Hour, End: end, NumberPrefix: prefix}); err != nil {
		t.Fatal(err)
	}
	// A small chat newer than the others is the bootstrap, so the measured chats all come in the
	// later chunks.
	if _, err = acct.AddHistory(wasim.HistoryMessage{
		Chat: types.NewJID(prefix+"99999", types.DefaultUserServer), Timestamp: end.Add(time.Minute), Message: historyText("newest"),
	}); err != nil {
		t.Fatal(err)
	}
	acct.SetHistorySyncOptions(wasim.HistorySyncOptions{BootstrapChats: 1, ChunkMessages: benchHistoryChunk, HoldLast: true})
	user := logInAccount(t, ctx, env, localpart, acct)
	sent := (chats*perChat + benchHistoryChunk - 1) / benchHistoryChunk // RECENT chunks
	waitFor(t, ctx, "the phone to send all but its last history chunk", func() bool {
		return acct.Phone().Count(func(evt any) bool {
			s, ok := evt.(*wasim.HistorySyncSent)
			return ok && s.SyncType == waHistorySync.HistorySync_RECENT
		}) == sent-1
	})
	env.WaitForMessage(ctx, user.client, user.room, botNotice(env.Env, "Bringing over your history: "))
	start := time.Now()
	if err = acct.SendHeldHistory(ctx); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, user.client, user.room, botNotice(env.Env, "Your history is here"))
	return chats * perChat, time.Since(start)
}

// perfLogins is the second phase: a surge of logins through the provisioning API, idle memory with
// many users, and start-up with many portals and users.
func perfLogins(t testing.TB, sizes perfSizes, report *perfReport) {
	env := newWAEnv(t, testdb.Postgres, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "logging.level", "info")
		e2e.SetConfig(cfg, "provisioning.enabled", true)
		e2e.SetConfig(cfg, "provisioning.shared_secret", provisioningSecret)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	accounts := make([]*wasim.Account, sizes.SurgeUsers)
	for i := range accounts {
		acct, err := env.WA.CreateAccount(ctx, fmt.Sprintf("49160%07d", i), fmt.Sprintf("Surge %d", i))
		if err != nil {
			t.Fatal(err)
		}
		accounts[i] = acct
	}

	// Every user starts a QR login at once and the phone scans the code as soon as it is shown.
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(accounts))
	for i, acct := range accounts {
		wg.Go(func() {
			if err := provisionQRLogin(ctx, env, id.NewUserID(fmt.Sprintf("surge%d", i), e2e.Domain), acct); err != nil {
				errs <- fmt.Errorf("user %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// companionsOnline counts the accounts whose linked companion (the bridge) is connected.
	companionsOnline := func() int {
		online := 0
		for _, acct := range accounts {
			if devices := acct.Devices(); len(devices) >= 2 && acct.Online(devices[1].Device) {
				online++
			}
		}
		return online
	}
	waitFor(t, ctx, "every companion to be online", func() bool { return companionsOnline() == len(accounts) })
	surge := time.Since(start)
	report.add(perfFigure{Name: fmt.Sprintf("login surge: %d users log in at once, until all connected", sizes.SurgeUsers), Value: surge.Seconds(), Unit: "s",
		Target: "<= 60 s", Met: boolPtr(surge <= time.Minute)})

	for i, acct := range accounts {
		seedPortals(t, ctx, env.DatabaseURI(), acct.JID().ToNonAD().String(), i*sizes.SurgePortals, sizes.SurgePortals)
	}
	env.RestartBridge()
	rss, split := idleRSS(t, env.BridgePID())
	report.add(perfFigure{Name: fmt.Sprintf("RSS idle, %d users × %d portals", sizes.SurgeUsers, sizes.SurgePortals), Value: rss, Unit: "MB",
		Target: "<= 60 MB", Met: boolPtr(rss <= 60), Detail: split})

	perUser := sizes.StartupPortals / sizes.SurgeUsers
	if extra := perUser - sizes.SurgePortals; extra > 0 {
		for i, acct := range accounts {
			seedPortals(t, ctx, env.DatabaseURI(), acct.JID().ToNonAD().String(), len(accounts)*sizes.SurgePortals+i*extra, extra)
		}
	}
	env.StopBridge()
	waitFor(t, ctx, "every companion to be offline after the stop", func() bool { return companionsOnline() == 0 })
	start = time.Now()
	env.LaunchBridge()
	env.WaitBridgeReady()
	startup := time.Since(start)
	report.add(perfFigure{Name: fmt.Sprintf("start-up to ready, %d portals, %d logged-in users", perUser*sizes.SurgeUsers, sizes.SurgeUsers), Value: startup.Seconds(), Unit: "s",
		Target: "<= 2 s", Met: boolPtr(startup <= 2*time.Second)})
	// Ready does not wait for the WhatsApp connections, which are made in the background: how
	// long until every one is up, as the simulator sees them, polled every 10 ms.
	for companionsOnline() < len(accounts) {
		select {
		case <-ctx.Done():
			t.Fatalf("only %d of %d logins reconnected after the restart", companionsOnline(), len(accounts))
		case <-time.After(10 * time.Millisecond):
		}
	}
	connected := time.Since(start)
	report.add(perfFigure{Name: fmt.Sprintf("start-up until all %d logins are connected, %d portals", sizes.SurgeUsers, perUser*sizes.SurgeUsers), Value: connected.Seconds(), Unit: "s"})
}

// provisionQRLogin logs user in as acct through the provisioning API: start a QR login, scan the
// first code with the phone, wait for the login's outcome.
func provisionQRLogin(ctx context.Context, env *waEnv, user id.UserID, acct *wasim.Account) error {
	call := func(method, path string) (map[string]any, error) {
		req, err := http.NewRequestWithContext(ctx, method, env.BridgeURL()+"/_matrix/provision/v1"+path+"user_id="+url.QueryEscape(string(user)), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+provisioningSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var out map[string]any
		if err = json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s %s: %d %v", method, path, resp.StatusCode, out)
		}
		return out, nil
	}
	started, err := call(http.MethodPost, "/login/qr?")
	if err != nil {
		return err
	}
	step, _ := started["step"].(map[string]any)
	code, _ := step["code"].(string)
	if code == "" {
		return fmt.Errorf("no QR code in %v", started)
	}
	if err = acct.ScanQR(ctx, code); err != nil {
		return fmt.Errorf("the phone failed to scan the QR code: %w", err)
	}
	after := step["seq"]
	for ctx.Err() == nil {
		out, err := call(http.MethodGet, fmt.Sprintf("/login/step?after=%v&", after))
		if err != nil {
			return err
		}
		step, _ = out["step"].(map[string]any)
		switch step["type"] {
		case "success":
			return nil
		case "failed":
			return fmt.Errorf("login failed: %v", step)
		}
		after = step["seq"]
	}
	return ctx.Err()
}

// saveProfile takes a CPU profile of the bridge through its pprof listener (metrics.pprof) and,
// with BENCH_REPORT set, writes it to BENCH_REPORT.cpu.pprof (read it with go tool pprof).
func saveProfile(ctx context.Context, debugURL string, seconds int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", debugURL, seconds), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || len(data) == 0 {
		return fmt.Errorf("GET /debug/pprof/profile: %d, %d bytes", resp.StatusCode, len(data))
	}
	if base := os.Getenv("BENCH_REPORT"); base != "" {
		return os.WriteFile(base+".cpu.pprof", data, 0o644)
	}
	return nil
}
