package tests

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// freeLoopbackAddr returns a loopback host:port that is free and that no other test of this
// process was given (e2e.FreeLoopbackAddr).
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	addr, err := e2e.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// scrapeMetrics reads the bridge's /metrics and returns every sample by its series, e.g.
// `matrix_whatsapp_logins{state="CONNECTED"}`.
func scrapeMetrics(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	out := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		idx := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[idx+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("bad sample line %q: %w", line, err)
		}
		out[line[:idx]] = v
	}
	return out, sc.Err()
}

// waitMetrics scrapes until every want holds (a series missing counts as 0), and fails the test
// with the last scrape when ctx ends first.
func waitMetrics(t testing.TB, ctx context.Context, url, what string, want func(m map[string]float64) bool) map[string]float64 {
	t.Helper()
	var last map[string]float64
	var lastErr error
	for {
		if last, lastErr = scrapeMetrics(ctx, url); lastErr == nil && want(last) {
			return last
		}
		select {
		case <-ctx.Done():
			t.Fatalf("metrics never showed %s (last error %v); last scrape:\n%s", what, lastErr, dumpSeries(last))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func dumpSeries(m map[string]float64) string {
	var b strings.Builder
	for k, v := range m {
		if strings.HasPrefix(k, "matrix_whatsapp_") {
			fmt.Fprintf(&b, "%s %v\n", k, v)
		}
	}
	return b.String()
}

// TestMetricsAfterKnownWorkload runs messages both ways and a WhatsApp outage through the bridge,
// and checks that /metrics on the separate metrics listener counts exactly that: messages by
// direction and kind, logins and sockets, portals and ghosts, the Matrix inbox backlog during the
// outage with its age, the disconnect and the reconnect attempts, and the transaction timings.
func TestMetricsAfterKnownWorkload(t *testing.T) {
	t.Parallel()
	metricsAddr := freeLoopbackAddr(t)
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "metrics.enabled", true)
		e2e.SetConfig(cfg, "metrics.listen", metricsAddr)
	})
	url := "http://" + metricsAddr + "/metrics"
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	before, err := scrapeMetrics(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if before[`matrix_whatsapp_logins{state="CONNECTED"}`] != 0 || before["matrix_whatsapp_portals"] != 0 {
		t.Errorf("fresh bridge shows logins or portals:\n%s", dumpSeries(before))
	}

	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	carol, carolGhost := newContact(t, ctx, env, "4917600000002", "Carol")
	if _, err := carol.SendText(ctx, alice.acct.JID(), "one"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "one"))
	if _, err := carol.SendText(ctx, alice.acct.JID(), "two"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "two"))
	for _, text := range []string{"three", "four", "five"} {
		if _, err := alice.client.SendText(ctx, dm, text); err != nil {
			t.Fatal(err)
		}
		waitWAText(t, ctx, carol, text)
	}

	got := waitMetrics(t, ctx, url, "the first workload", func(m map[string]float64) bool {
		// Receipts of the contact's phone for what went out come in after it and are bridged
		// through the WhatsApp inbox too: wait for both inboxes to be empty.
		return m[`matrix_whatsapp_messages_bridged_total{direction="matrix_to_whatsapp",kind="text"}`] == 3 &&
			m[`matrix_whatsapp_inbox_pending{direction="matrix_to_whatsapp"}`] == 0 &&
			m[`matrix_whatsapp_inbox_pending{direction="whatsapp_to_matrix"}`] == 0
	})
	for series, want := range map[string]float64{
		`matrix_whatsapp_messages_bridged_total{direction="whatsapp_to_matrix",kind="text"}`: 2,
		`matrix_whatsapp_logins{state="CONNECTED"}`:                                          1,
		`matrix_whatsapp_whatsapp_connected_sockets`:                                         1,
		`matrix_whatsapp_portals`:                                                            1,
		`matrix_whatsapp_database_up`:                                                        1,
		`matrix_whatsapp_inbox_pending{direction="whatsapp_to_matrix"}`:                      0,
		`matrix_whatsapp_inbox_oldest_pending_seconds{direction="matrix_to_whatsapp"}`:       0,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v", series, got[series], want)
		}
	}
	// Each message bridged at its first attempt has its time measured, split into the bridge's
	// part and its waits: the Matrix sends (homeserver) one way, whatsmeow's sends the other. The
	// first message of a new chat is not: the chat had no rows in memory, so the bridge read it
	// back from its database, without the time it arrived. (Alice's first message can be that
	// first row of her room too, when her join had not reached the bridge before it.)
	for _, dir := range []struct {
		name, waitedFor string
		min, max        float64
	}{{"whatsapp_to_matrix", "homeserver", 1, 1}, {"matrix_to_whatsapp", "whatsapp", 2, 3}} {
		for _, part := range []string{"bridge", "homeserver", "whatsapp"} {
			series := fmt.Sprintf(`matrix_whatsapp_message_handling_seconds_count{direction="%s",part="%s"}`, dir.name, part)
			if got[series] < dir.min || got[series] > dir.max {
				t.Errorf("%s = %v, want %v to %v", series, got[series], dir.min, dir.max)
			}
		}
		waited := got[fmt.Sprintf(`matrix_whatsapp_message_handling_seconds_sum{direction="%s",part="%s"}`, dir.name, dir.waitedFor)]
		if waited <= 0 || waited > 60 {
			t.Errorf("%s messages waited %v s in all for the %s, want more than 0", dir.name, waited, dir.waitedFor)
		}
	}
	if got["matrix_whatsapp_ghosts"] < 1 {
		t.Errorf("ghosts = %v, want at least Carol's", got["matrix_whatsapp_ghosts"])
	}
	if got[`matrix_whatsapp_appservice_transaction_duration_seconds_count{status="200"}`] < 3 {
		t.Errorf("transactions answered 200 = %v, want at least the 3 that carried messages",
			got[`matrix_whatsapp_appservice_transaction_duration_seconds_count{status="200"}`])
	}
	for series, v := range got {
		if strings.HasPrefix(series, "matrix_whatsapp_failures_total") && v != 0 {
			t.Errorf("%s = %v after a workload without failures", series, v)
		}
	}
	// A fresh pairing connects within the pairing, not through the connect loop: no attempts yet.
	attemptsBefore := got["matrix_whatsapp_whatsapp_connect_attempts_total"]

	// WhatsApp goes down: the disconnect is counted and the message waits in the Matrix inbox
	// (with the bot's notice about it, whose echo is queued behind it in the same room).
	device := companionDevice(t, alice.acct)
	env.WA.SetOutage(true)
	waitFor(t, ctx, "the bridge to lose its connection", func() bool { return !alice.acct.Online(device) })
	// Read now, not with the first workload: a message's time is recorded just after its row is
	// settled, so that scrape could come between the two for the last message.
	before, scrapeErr := scrapeMetrics(ctx, url)
	if scrapeErr != nil {
		t.Fatal(scrapeErr)
	}
	measuredBefore := before[`matrix_whatsapp_message_handling_seconds_count{direction="matrix_to_whatsapp",part="bridge"}`]
	if _, err := alice.client.SendText(ctx, dm, "six"); err != nil {
		t.Fatal(err)
	}
	waitMetrics(t, ctx, url, "the disconnect and the waiting message", func(m map[string]float64) bool {
		disconnects := 0.0
		for series, v := range m {
			if strings.HasPrefix(series, "matrix_whatsapp_whatsapp_disconnects_total{") {
				disconnects += v
			}
		}
		return disconnects == 1 && m[`matrix_whatsapp_logins{state="CONNECTED"}`] == 0 &&
			m[`matrix_whatsapp_inbox_pending{direction="matrix_to_whatsapp"}`] >= 1 &&
			m[`matrix_whatsapp_inbox_oldest_pending_seconds{direction="matrix_to_whatsapp"}`] > 0
	})

	// WhatsApp is back: the message goes out and the reconnect shows.
	env.WA.SetOutage(false)
	waitWAText(t, ctx, carol, "six")
	got = waitMetrics(t, ctx, url, "the message delivered after the outage", func(m map[string]float64) bool {
		return m[`matrix_whatsapp_messages_bridged_total{direction="matrix_to_whatsapp",kind="text"}`] == 4 &&
			m[`matrix_whatsapp_inbox_pending{direction="matrix_to_whatsapp"}`] == 0 &&
			m[`matrix_whatsapp_logins{state="CONNECTED"}`] == 1
	})
	if got["matrix_whatsapp_whatsapp_connect_attempts_total"] <= attemptsBefore {
		t.Errorf("connect attempts = %v after the outage, want more than %v", got["matrix_whatsapp_whatsapp_connect_attempts_total"], attemptsBefore)
	}
	if got[`matrix_whatsapp_messages_bridged_total{direction="whatsapp_to_matrix",kind="text"}`] != 2 {
		t.Errorf("WhatsApp -> Matrix texts = %v, want still 2", got[`matrix_whatsapp_messages_bridged_total{direction="whatsapp_to_matrix",kind="text"}`])
	}
	// The message that waited for WhatsApp to come back is not measured as the bridge's time.
	if n := got[`matrix_whatsapp_message_handling_seconds_count{direction="matrix_to_whatsapp",part="bridge"}`]; n != measuredBefore {
		t.Errorf("Matrix -> WhatsApp messages measured = %v after the outage, want still %v", n, measuredBefore)
	}
}
