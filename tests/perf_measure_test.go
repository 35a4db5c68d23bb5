package tests

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// The resources one path of the performance benchmark took (measure) and the bridge's histograms
// read from its metrics.

// perfRun is what one path achieved with one load.
type perfRun struct {
	Messages int `json:"messages"`
	// Seconds is from the first send to the last arrival, PerSecond the messages per second over
	// that time.
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"msgs_per_second"`
	// SustainedSeconds runs on until the machine was quiet again after the last arrival (quietAfter):
	// the work the messages left behind, above all the homeserver's, counts too.
	// SustainedPerSecond is the messages per second over that time; Quiet is false when the
	// machine was still busy when the wait for it ended (the figures then count up to that end).
	SustainedSeconds   float64 `json:"sustained_seconds"`
	SustainedPerSecond float64 `json:"sustained_msgs_per_second"`
	Quiet              bool    `json:"quiet"`
	// CPU time per message of the bridge process, of the bridge database's PostgreSQL backends,
	// and of Dendrite, in milliseconds (from /proc, cpuTime).
	BridgeCPUms     float64 `json:"bridge_cpu_ms_per_msg"`
	DBCPUms         float64 `json:"db_cpu_ms_per_msg"`
	HomeserverCPUms float64 `json:"homeserver_cpu_ms_per_msg"`
	// MachineCPUms is the whole machine's CPU time per message (every process: homeserver, bridge,
	// database, simulator, the benchmark's own clients), over the same time as the processes'
	// figures, and MachineBusy the share of all cores busy while the messages were sent and
	// arrived, from /proc/stat (machineCPU).
	MachineCPUms float64 `json:"machine_cpu_ms_per_msg"`
	MachineBusy  float64 `json:"machine_busy"`
	// HarnessCPUms is the benchmark process's own CPU time per message: the simulated WhatsApp
	// (server and contacts' whatsmeow clients), the Matrix clients, the probe appservice.
	HarnessCPUms float64 `json:"harness_cpu_ms_per_msg"`
	// HSRequests is the bridge's homeserver requests per message; Requests lists them by kind.
	HSRequests float64           `json:"homeserver_requests_per_msg"`
	Requests   e2e.RequestCounts `json:"homeserver_requests"`
	// HSConnections are the TCP connections the bridge opened to the homeserver per message.
	HSConnections float64 `json:"homeserver_connections_opened_per_msg"`
	// DBTransactions and DBRowsWritten are the bridge database's transactions (each a commit, or
	// a statement outside one) and rows inserted, updated or deleted per message, from PostgreSQL's
	// statistics; DBRowsByTable splits the rows by table (whatsmeow_* are whatsmeow's store).
	DBTransactions float64 `json:"db_transactions_per_msg"`
	// DBConnections are connections the bridge opened to its database per message (its pool
	// closing idle connections beyond database.max_idle_conns and opening new ones).
	DBConnections float64            `json:"db_connections_opened_per_msg"`
	DBRowsWritten float64            `json:"db_rows_written_per_msg"`
	DBRowsByTable map[string]float64 `json:"db_rows_written_per_msg_by_table"`
}

// perfSettle is how long after the last arrival the resource readings wait at least, so that work
// that follows a delivery (receipts, bookkeeping) counts for the message that caused it.
const perfSettle = 1100 * time.Millisecond

// quietInterval is how often quietAfter samples the machine's CPU times.
const quietInterval = 250 * time.Millisecond

// quietAfter waits from last until the machine's cores were less than settleBusy busy for two
// intervals in a row (sampled every interval), or until quietMax after last, and returns when the first of the quiet
// intervals began (the time the work of a run ended, to a quarter of a second) and whether the
// machine went quiet (when not, it returns the time the wait ended).
//
// A homeserver does part of its work for a message after the message reached its recipient:
// Dendrite's user API evaluates push rules and counts unread notifications in a consumer of its
// own (userapi/consumers.OutputRoomEventConsumer), which falls behind under load and then works
// on for seconds. Runs that start only once the machine is quiet do not pay for the run before.
func quietAfter(t testing.TB, last time.Time, interval, quietMax time.Duration) (time.Time, bool) {
	t.Helper()
	var quietSince time.Time
	prev, prevAt := machineCPU(t), time.Now()
	for time.Since(last) < quietMax {
		time.Sleep(interval)
		now, nowAt := machineCPU(t), time.Now()
		if now.since(prev).busyShare() >= settleBusy {
			quietSince = time.Time{}
		} else if quietSince.IsZero() {
			quietSince = prevAt
		} else {
			return quietSince, true
		}
		prev, prevAt = now, nowAt
	}
	return time.Now(), false
}

// sendSettleWindow, sendSettleMax and sendSettleBudget bound sendSettler: the machine counts as
// quiet when its cores were less than settleBusy busy over one window (with /proc/stat's 10-ms
// ticks on 2 cores, at most one busy tick of 8); a send waits at most sendSettleMax for that, and
// all latency rounds together at most sendSettleBudget (then sends go at once).
const (
	sendSettleWindow = 40 * time.Millisecond
	sendSettleMax    = 400 * time.Millisecond
	sendSettleBudget = 3 * time.Minute
)

// sendSettler lets each latency round's message start on a quiet machine: Dendrite works on for
// tens of milliseconds after a message arrived (push rules, unread counts, the other members'
// syncs), and a message sent into that work measures the machine's contention rather than its
// path.
type sendSettler struct {
	on     bool
	waited time.Duration
}

func newSendSettler(on bool) *sendSettler { return &sendSettler{on: on} }

// wait waits, when the settler is on and its budget lasts, until the machine was quiet over one
// sendSettleWindow, or sendSettleMax passed; it returns 1 when the machine was still busy then,
// else 0.
func (s *sendSettler) wait(t testing.TB) int {
	t.Helper()
	if !s.on || s.waited >= sendSettleBudget {
		return 0
	}
	start := time.Now()
	defer func() { s.waited += time.Since(start) }()
	for {
		before := machineCPU(t)
		time.Sleep(sendSettleWindow)
		if machineCPU(t).since(before).busyShare() < settleBusy {
			return 0
		}
		if time.Since(start) >= sendSettleMax {
			return 1
		}
	}
}

// summary says how long the sends waited in all.
func (s *sendSettler) summary() string {
	if s.waited >= sendSettleBudget {
		return fmt.Sprintf("%.0f s of waiting in all, the budget, after which sends went at once", s.waited.Seconds())
	}
	return fmt.Sprintf("%.0f s of waiting in all", s.waited.Seconds())
}

// perfStatsSettle is how long after the last arrival the database's statistics are read. A
// PostgreSQL backend (15 and later, pgstat_report_stat) publishes its counts at most once a
// second; counts that arrive within that second wait until its next transaction, or, while it
// stays idle, for the 10-second idle interval (PGSTAT_IDLE_INTERVAL).
const perfStatsSettle = 11 * time.Second

// perfSubject is the process whose CPU time (perfRun.BridgeCPUms) and database (DBCPUms and the
// statistics) a run reads: the bridge, or the WhatsApp floor.
type perfSubject struct {
	pid int
	db  *pgBackends
}

// measure runs one path's sending (run returns the last arrival) and reads the resources it took:
// the subject's process and database, the homeserver's, the machine's; the database's statistics
// only withStats (they take perfStatsSettle to read).
func (pe *perfEnv) measure(t testing.TB, messages int, withStats bool, subject perfSubject, run func() time.Time) perfRun {
	t.Helper()
	bridgeBefore, hsBefore, dbBefore := cpuTime(t, subject.pid), cpuTime(t, pe.DendritePID()), subject.db.cpu(t)
	machineBefore, harnessBefore := machineCPU(t), cpuTime(t, os.Getpid())
	statsBefore := subject.db.stats(t)
	reqBefore, connBefore := pe.HomeserverRequests(), pe.HomeserverConnections()
	start := time.Now()
	last := run()
	// The machine's busy share is of the sending itself; its CPU time, like the processes', also
	// counts the work that follows the last arrival, until the machine is quiet again.
	machineRun := machineCPU(t).since(machineBefore)
	quietAt, quiet := quietAfter(t, last, quietInterval, pe.quietMax)
	time.Sleep(time.Until(last.Add(perfSettle)))
	machineAll, harness := machineCPU(t).since(machineBefore), cpuTime(t, os.Getpid())-harnessBefore
	requests, conns := pe.HomeserverRequests().Since(reqBefore), pe.HomeserverConnections()-connBefore
	bridgeCPU, dbCPU, hsCPU := cpuTime(t, subject.pid)-bridgeBefore, subject.db.cpu(t).since(dbBefore), cpuTime(t, pe.DendritePID())-hsBefore
	var stats dbStats
	if withStats {
		time.Sleep(time.Until(last.Add(perfStatsSettle)))
		stats = subject.db.stats(t).since(statsBefore)
	}
	n := float64(messages)
	elapsed, sustained := last.Sub(start), quietAt.Sub(start)
	if quietAt.Before(last) {
		sustained = elapsed
	}
	return perfRun{
		Messages:           messages,
		Seconds:            elapsed.Seconds(),
		PerSecond:          n / elapsed.Seconds(),
		SustainedSeconds:   sustained.Seconds(),
		SustainedPerSecond: n / sustained.Seconds(),
		Quiet:              quiet,
		BridgeCPUms:        ms(bridgeCPU) / n,
		DBCPUms:            ms(dbCPU) / n,
		HomeserverCPUms:    ms(hsCPU) / n,
		MachineCPUms:       ms(machineAll.busy) / n,
		MachineBusy:        machineRun.busyShare(),
		HarnessCPUms:       ms(harness) / n,
		HSRequests:         float64(requests.Total()) / n,
		HSConnections:      float64(conns) / n,
		DBTransactions:     float64(stats.transactions) / n,
		DBConnections:      float64(stats.sessions) / n,
		DBRowsWritten:      float64(stats.rowsWritten()) / n,
		DBRowsByTable:      stats.perMessage(n),
		Requests:           requests,
	}
}

// histogram is a Prometheus histogram's cumulative bucket counts by upper bound (seconds).
type histogram struct {
	bounds     []float64
	counts     []float64
	count, sum float64
}

// histogramDelta is what histogram name (with the label pairs labels, as in the exposition
// format) counted between two scrapes.
func histogramDelta(before, after map[string]float64, name, labels string) histogram {
	var h histogram
	prefix := name + "_bucket{" + labels + `,le="`
	seriesOf := make(map[float64]string)
	for series := range after {
		rest, ok := strings.CutPrefix(series, prefix)
		if !ok {
			continue
		}
		bound, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
		if err != nil { // +Inf parses; anything else is not a bucket
			continue
		}
		h.bounds = append(h.bounds, bound)
		seriesOf[bound] = series
	}
	sort.Float64s(h.bounds)
	for _, b := range h.bounds {
		h.counts = append(h.counts, after[seriesOf[b]]-before[seriesOf[b]])
	}
	if n := len(h.counts); n > 0 {
		h.count = h.counts[n-1]
	}
	h.sum = after[name+"_sum{"+labels+"}"] - before[name+"_sum{"+labels+"}"]
	return h
}

// quantile returns the upper bound, in milliseconds, of the bucket that holds quantile q (0-1): the
// value is at most that; 0 when nothing counted took any time.
func (h histogram) quantile(q float64) float64 {
	if h.sum == 0 {
		return 0
	}
	for i, c := range h.counts {
		if c >= q*h.count {
			return h.bounds[i] * 1000
		}
	}
	return math.Inf(1)
}

// merge combines two runs of the same path: rates over their summed times, resources per message
// over their summed messages, the machine's busy share over their summed times. The database
// statistics are r's (a repeated run does not read them; see measureThroughput).
func (r perfRun) merge(o perfRun) perfRun {
	n, on := float64(r.Messages), float64(o.Messages)
	perMessage := func(a, b float64) float64 { return (a*n + b*on) / (n + on) }
	m := r
	m.Messages = r.Messages + o.Messages
	m.Seconds, m.SustainedSeconds = r.Seconds+o.Seconds, r.SustainedSeconds+o.SustainedSeconds
	m.PerSecond = float64(m.Messages) / m.Seconds
	m.SustainedPerSecond = float64(m.Messages) / m.SustainedSeconds
	m.Quiet = r.Quiet && o.Quiet
	m.BridgeCPUms, m.DBCPUms = perMessage(r.BridgeCPUms, o.BridgeCPUms), perMessage(r.DBCPUms, o.DBCPUms)
	m.HomeserverCPUms, m.MachineCPUms = perMessage(r.HomeserverCPUms, o.HomeserverCPUms), perMessage(r.MachineCPUms, o.MachineCPUms)
	m.HarnessCPUms, m.HSRequests = perMessage(r.HarnessCPUms, o.HarnessCPUms), perMessage(r.HSRequests, o.HSRequests)
	m.HSConnections = perMessage(r.HSConnections, o.HSConnections)
	m.MachineBusy = (r.MachineBusy*r.Seconds + o.MachineBusy*o.Seconds) / m.Seconds
	m.Requests = make(e2e.RequestCounts, len(r.Requests))
	for _, counts := range []e2e.RequestCounts{r.Requests, o.Requests} {
		for kind, c := range counts {
			m.Requests[kind] += c
		}
	}
	return m
}

// sustainedDetail explains a sustained throughput figure: how long the machine stayed busy after
// the last arrival on the bridged path and at ceiling A, and with two passes each pass's ratio.
func sustainedDetail(bridged, a perfRun, twoPasses bool, passes [2][2]perfRun) string {
	tail := func(r perfRun) string {
		s := fmt.Sprintf("%.1f s", r.SustainedSeconds-r.Seconds)
		if !r.Quiet {
			s += " (not quiet yet when the wait ended)"
		}
		return s
	}
	detail := fmt.Sprintf("messages ÷ (first send → the machine quiet again after the last arrival: %s after it bridged, %s at ceiling A); the homeserver's work that runs behind the deliveries counts", tail(bridged), tail(a))
	if twoPasses {
		detail += fmt.Sprintf("; two passes in the order bridged, A, A, bridged: %.2f× and %.2f× of A",
			passes[0][0].SustainedPerSecond/passes[1][0].SustainedPerSecond, passes[0][1].SustainedPerSecond/passes[1][1].SustainedPerSecond)
	}
	return detail
}

// waArrivals records when each text first reached any watched simulator contact.
type waArrivals struct{ e2e.Arrivals }

func newWAArrivals() *waArrivals { return &waArrivals{} }

func (a *waArrivals) watch(c *wasim.Contact) {
	c.Client().AddEventHandler(func(evt any) {
		if m, ok := evt.(*events.Message); ok {
			a.Record(time.Now(), wasim.MessageText(m))
		}
	})
}

func (a *waArrivals) wait(ctx context.Context, bodies []string) ([]time.Time, error) {
	return a.Wait(ctx, bodies, "WhatsApp")
}
