package wasim

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"
)

// count returns how many events of type T the companion logged so far.
func count[T any](c *companion) int { return c.Count(isType[T]) }

// waitEvent waits until the companion logged more than seen events of type T and returns the last.
func waitEvent[T any](t *testing.T, ctx context.Context, c *companion, seen int, what string) T {
	t.Helper()
	evt, err := c.WaitEvent(ctx, func(evt any) bool { return isType[T](evt) && c.Count(isType[T]) > seen })
	if err != nil {
		t.Fatalf("no %s: %v", what, err)
	}
	return evt.(T)
}

// reconnectCompanion closes the companion's socket from its side and connects it again.
func reconnectCompanion(t *testing.T, c *companion) {
	t.Helper()
	c.cli.Disconnect()
	if err := c.cli.Connect(); err != nil {
		t.Fatalf("failed to connect: %v", err)
	}
}

// TestLoginRefusals: each refusal reaches an unmodified whatsmeow client as the event whatsmeow
// makes of it, the server counts every attempt, and the client gets in once the refusal ends.
func TestLoginRefusals(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Rae")
	rae := pairByQR(t, ctx, srv, acct)
	dev := rae.cli.Store.ID.Device
	connected := 1

	// 405: the client is outdated and stays away until told to connect again.
	if err := acct.RefuseLogins(dev, 405, 1); err != nil {
		t.Fatal(err)
	}
	before := acct.LoginAttempts(dev)
	reconnectCompanion(t, rae)
	waitEvent[*events.ClientOutdated](t, ctx, rae, 0, "ClientOutdated")
	if got := acct.LoginAttempts(dev) - before; got != 1 {
		t.Fatalf("%d login attempts after a 405, want 1", got)
	}
	reconnectCompanion(t, rae)
	rae.waitConnected(t, ctx, connected)
	connected++

	// 503 twice: whatsmeow retries on its own and gets in on the third attempt.
	if err := acct.RefuseLogins(dev, 503, 2); err != nil {
		t.Fatal(err)
	}
	before = acct.LoginAttempts(dev)
	reconnectCompanion(t, rae)
	rae.waitConnected(t, ctx, connected)
	connected++
	if got := acct.LoginAttempts(dev) - before; got != 3 {
		t.Fatalf("%d login attempts through two 503s, want 3", got)
	}

	// An unknown reason is reported as a ConnectFailure with its code.
	if err := acct.RefuseLogins(dev, 409, 1); err != nil {
		t.Fatal(err)
	}
	reconnectCompanion(t, rae)
	if evt := waitEvent[*events.ConnectFailure](t, ctx, rae, 0, "ConnectFailure"); evt.Reason != 409 {
		t.Fatalf("connect failure reason %d, want 409", evt.Reason)
	}
	reconnectCompanion(t, rae)
	rae.waitConnected(t, ctx, connected)
	connected++

	// A temporary ban cuts the online companion off; its reconnect learns the code and expiry.
	if err := acct.Ban(101, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	ban := waitEvent[*events.TemporaryBan](t, ctx, rae, 0, "TemporaryBan")
	if ban.Code != events.TempBanSentToTooManyPeople || ban.Expire <= 0 || ban.Expire > 3*time.Second {
		t.Fatalf("ban %+v, want code 101 expiring within 3 s", ban)
	}
	reconnectCompanion(t, rae)
	waitEvent[*events.TemporaryBan](t, ctx, rae, 1, "second TemporaryBan")
	deadline := time.Now().Add(ban.Expire + time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			t.Fatal("ban never ended")
		case <-time.After(100 * time.Millisecond):
		}
	}
	reconnectCompanion(t, rae)
	rae.waitConnected(t, ctx, connected)
}

// TestLoggedOutRefusals: 401, 403 and 406 log the companion out (whatsmeow deletes its session)
// and the server forgets the device. The refused connection is made by a new client on the same
// store, as a restarted bridge makes it: a client that is logged out while its own handlers still
// run races inside whatsmeow (store.Device.Delete swaps the stores that the push-name goroutines
// of message handling read, with no lock between them), which -race reports.
func TestLoggedOutRefusals(t *testing.T) {
	t.Parallel()
	for _, reason := range []int{401, 403, 406} {
		t.Run(itoa(reason), func(t *testing.T) {
			t.Parallel()
			srv := newTestServer(t)
			ctx := testContext(t)
			acct := newAccount(t, ctx, srv, "Sol")
			sol := pairByQR(t, ctx, srv, acct)
			dev := sol.cli.Store.ID.Device
			if err := acct.RefuseLogins(dev, reason, 1); err != nil {
				t.Fatal(err)
			}
			sol.cli.Disconnect()
			restarted := newCompanion(t, srv, sol.path)
			if err := restarted.cli.Connect(); err != nil {
				t.Fatalf("failed to connect: %v", err)
			}
			evt := waitEvent[*events.LoggedOut](t, ctx, restarted, 0, "LoggedOut")
			if !evt.OnConnect || int(evt.Reason) != reason {
				t.Fatalf("logged out %+v, want on connect with reason %d", evt, reason)
			}
			if devices := acct.Devices(); len(devices) != 1 {
				t.Fatalf("account still lists devices %v", devices)
			}
		})
	}
}

// TestStreamErrorsAndReplaced: a 503 or unknown stream error makes the client reconnect; a second
// connection of the same device ends the first with a "replaced" conflict, and that client does
// not come back on its own.
func TestStreamErrorsAndReplaced(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Ivo")
	ivo := pairByQR(t, ctx, srv, acct)
	dev := ivo.cli.Store.ID.Device

	if err := acct.SendStreamError(dev, "503"); err != nil {
		t.Fatal(err)
	}
	ivo.waitConnected(t, ctx, 1)
	if err := acct.SendStreamError(dev, "599"); err != nil {
		t.Fatal(err)
	}
	if evt := waitEvent[*events.StreamError](t, ctx, ivo, 0, "StreamError"); evt.Code != "599" {
		t.Fatalf("stream error code %q, want 599", evt.Code)
	}
	ivo.waitConnected(t, ctx, 2)

	// A second client with the same session (a second bridge on the same database).
	twin := newCompanion(t, srv, ivo.path)
	if err := twin.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	twin.waitConnected(t, ctx, 0)
	waitEvent[*events.StreamReplaced](t, ctx, ivo, 0, "StreamReplaced")
	lea := newContact(t, ctx, srv, "Lea")
	if _, err := lea.SendText(ctx, acct.JID(), "to the newest"); err != nil {
		t.Fatal(err)
	}
	if _, err := twin.WaitMessage(ctx, textIs("to the newest")); err != nil {
		t.Fatalf("the new connection did not get the message: %v", err)
	}
	// The server closes the replaced socket a moment after the conflict (whatsmeow itself only
	// stops expecting it): wait for that, within reason.
	deadline := time.Now().Add(10 * time.Second)
	for ivo.cli.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("the replaced client is still connected")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keepAlive sends whatsmeow's keepalive ping and reports whether the server answered within wait.
func keepAlive(ctx context.Context, c *companion, wait time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	//lint:ignore SA1019 whatsmeow's own keepalive ping is what the silence tests are about
	ok, _ := c.cli.DangerousInternals().SendKeepAlive(ctx)
	return ok
}

// TestSilentConnection: a silenced device's socket stays open but answers nothing, keepalives
// included, and gets nothing; new logins stay silent; ending the silence closes the dead socket and
// the client catches up.
func TestSilentConnection(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Uma")
	lea := newContact(t, ctx, srv, "Lea")
	uma := pairByQR(t, ctx, srv, acct)
	dev := uma.cli.Store.ID.Device
	if !keepAlive(ctx, uma, testTimeout) {
		t.Fatal("keepalive failed before the silence")
	}
	if err := acct.Silence(dev, true); err != nil {
		t.Fatal(err)
	}
	if keepAlive(ctx, uma, 2*time.Second) {
		t.Fatal("keepalive answered during the silence")
	}
	if !uma.cli.IsConnected() {
		t.Fatal("the silent socket was closed")
	}
	if _, err := lea.SendText(ctx, acct.JID(), "during the silence"); err != nil {
		t.Fatal(err)
	}
	// A new login of the device is silent too: no success, so no Connected event.
	before := acct.LoginAttempts(dev)
	reconnectCompanion(t, uma)
	waitFor := func(cond func() bool) {
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatal("timed out")
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	waitFor(func() bool { return acct.LoginAttempts(dev) > before })
	if acct.Online(dev) || count[*events.Connected](uma) != 1 {
		t.Fatal("a silent login was let in")
	}
	// Nor is its ping answered. This write on the new socket also orders the test after
	// whatsmeow's own set-up of that socket: whatsmeow installs its disconnect callback after the
	// handshake without a lock, and a socket the server closes before the client ever wrote on it
	// again is a data race inside whatsmeow under -race.
	if keepAlive(ctx, uma, 2*time.Second) {
		t.Fatal("keepalive answered on a silent login")
	}
	if err := acct.Silence(dev, false); err != nil {
		t.Fatal(err)
	}
	// The closed socket looks like a network drop; whatsmeow reconnects and gets the message.
	uma.waitConnected(t, ctx, 1)
	if _, err := uma.WaitMessage(ctx, textIs("during the silence")); err != nil {
		t.Fatalf("message held during the silence never arrived: %v", err)
	}
}

// TestControlAPIRefusals drives the same faults through the HTTP control API.
func TestControlAPIRefusals(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Vic")
	lea := newContact(t, ctx, srv, "Lea")
	vic := pairByQR(t, ctx, srv, acct)
	api := newControlClient(t, srv)
	phone := acct.JID().User
	body := func(fields map[string]any) string {
		fields["phone"] = phone
		return mustJSON(fields)
	}

	api.expect(http.StatusBadRequest, `missing field "reason"`, "POST", "/_wasim/faults/refuse", body(map[string]any{}), nil)
	api.expect(http.StatusBadRequest, "402", "POST", "/_wasim/faults/refuse", body(map[string]any{"reason": 402}), nil)
	api.expect(http.StatusNotFound, "no such device", "POST", "/_wasim/faults/refuse", body(map[string]any{"reason": 405, "device": 9}), nil)
	api.expect(http.StatusBadRequest, "seconds", "POST", "/_wasim/faults/ban", body(map[string]any{"code": 101}), nil)
	api.expect(http.StatusBadRequest, "number", "POST", "/_wasim/faults/stream-error", body(map[string]any{"code": "x"}), nil)
	api.expect(http.StatusBadRequest, `missing field "on"`, "POST", "/_wasim/faults/silence", body(map[string]any{}), nil)
	api.expect(http.StatusBadRequest, "missing field", "POST", "/_wasim/faults/offline", `{}`, nil)
	api.expect(http.StatusBadRequest, `missing field "phone"`, "GET", "/_wasim/faults/logins", "", nil)

	// Without a device, a refusal applies to every companion.
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/refuse", body(map[string]any{"reason": 405, "count": 1}), nil)
	reconnectCompanion(t, vic)
	waitEvent[*events.ClientOutdated](t, ctx, vic, 0, "ClientOutdated")
	var logins struct{ Logins map[string]int }
	api.expect(http.StatusOK, "", "GET", "/_wasim/faults/logins?phone="+phone, "", &logins)
	dev := itoa(int(vic.cli.Store.ID.Device))
	if logins.Logins[dev] < 2 {
		t.Fatalf("logins %v, want at least 2 for device %s (pairing and the refused one)", logins.Logins, dev)
	}

	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/ban", body(map[string]any{"code": 102, "seconds": 60}), nil)
	reconnectCompanion(t, vic)
	if ban := waitEvent[*events.TemporaryBan](t, ctx, vic, 0, "TemporaryBan"); ban.Code != events.TempBanBlockedByUsers {
		t.Fatalf("ban code %d, want 102", ban.Code)
	}
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/ban", body(map[string]any{"seconds": 0}), nil)
	reconnectCompanion(t, vic)
	vic.waitConnected(t, ctx, 1)

	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/stream-error", body(map[string]any{"code": "503"}), nil)
	vic.waitConnected(t, ctx, 2)

	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/silence", body(map[string]any{"on": true}), nil)
	if _, err := lea.SendText(ctx, acct.JID(), "held by the silence"); err != nil {
		t.Fatal(err)
	}
	if n := countText(vic.EventLog, "held by the silence"); n != 0 {
		t.Fatal("a silent connection delivered a message")
	}
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/silence", body(map[string]any{"on": false}), nil)
	vic.waitConnected(t, ctx, 3)
	if _, err := vic.WaitMessage(ctx, textIs("held by the silence")); err != nil {
		t.Fatalf("message held by the silence never arrived: %v", err)
	}
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/offline", `{"queue_expiry_seconds": 0, "offline_logout_seconds": 0}`, nil)
}
