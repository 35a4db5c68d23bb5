package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

const provisioningSecret = "e2e-provisioning-secret-0123456789"

// provisioningClient calls the bridge's provisioning API.
type provisioningClient struct {
	t      *testing.T
	base   string
	secret string
	user   id.UserID
}

// call sends method path (relative to the API prefix) with body (nil for none, a string for raw
// bytes, else JSON) and returns the status and the decoded JSON answer.
func (c provisioningClient) call(ctx context.Context, method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = bytes.NewReader([]byte(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		reader = bytes.NewReader(data)
	}
	u := c.base + "/_matrix/provision/v1" + path
	if c.user != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		u += sep + "user_id=" + url.QueryEscape(string(c.user))
	}
	req, err := http.NewRequestWithContext(ctx, method, u, reader)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.secret != "" {
		req.Header.Set("Authorization", "Bearer "+c.secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err = json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatalf("%s %s: answer is not a JSON object: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// expect checks an answer's status and, for errors, its errcode.
func (c provisioningClient) expect(ctx context.Context, method, path string, body any, status int, errcode string) map[string]any {
	c.t.Helper()
	got, out := c.call(ctx, method, path, body)
	if got != status || (errcode != "" && out["errcode"] != errcode) {
		c.t.Errorf("%s %s as %q: %d %v, want %d %s", method, path, c.user, got, out, status, errcode)
	}
	if errcode != "" && out["error"] == "" {
		c.t.Errorf("%s %s: error without a message: %v", method, path, out)
	}
	return out
}

// TestProvisioningAPI drives a whole account through the provisioning API: every authentication
// error and bad input first, then a pairing-code login, status, contacts, resolving numbers on and
// off WhatsApp, opening a DM, and logout.
func TestProvisioningAPI(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "provisioning.enabled", true)
		e2e.SetConfig(cfg, "provisioning.shared_secret", provisioningSecret)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := env.NewUser(t, "alice")
	room := openManagementRoom(t, ctx, env.Env, alice)
	api := provisioningClient{t: t, base: env.BridgeURL(), secret: provisioningSecret, user: alice.UserID}

	// Authentication and the acting user.
	noSecret, wrongSecret := api, api
	noSecret.secret, wrongSecret.secret = "", "not-the-secret-at-all"
	noSecret.expect(ctx, http.MethodGet, "/status", nil, http.StatusUnauthorized, "M_MISSING_TOKEN")
	wrongSecret.expect(ctx, http.MethodGet, "/status", nil, http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
	for _, c := range []struct {
		user    id.UserID
		status  int
		errcode string
	}{
		{"", http.StatusBadRequest, "M_MISSING_PARAM"},
		{"alice", http.StatusBadRequest, "M_INVALID_PARAM"},
		{"@eve:elsewhere.example", http.StatusForbidden, "M_FORBIDDEN"},      // relay level only
		{ghostOf(env, "4917600000002"), http.StatusForbidden, "M_FORBIDDEN"}, // a ghost
		{env.BotMXID(), http.StatusForbidden, "M_FORBIDDEN"},                 // the bot
	} {
		other := api
		other.user = c.user
		other.expect(ctx, http.MethodGet, "/status", nil, c.status, c.errcode)
	}
	api.expect(ctx, http.MethodGet, "/nonexistent", nil, http.StatusNotFound, "M_UNRECOGNIZED")

	// Not logged in yet.
	status := api.expect(ctx, http.MethodGet, "/status", nil, http.StatusOK, "")
	if status["logged_in"] != false || status["user_id"] != string(alice.UserID) {
		t.Errorf("status before login = %v", status)
	}
	api.expect(ctx, http.MethodGet, "/contacts", nil, http.StatusConflict, "COM.GITHUB.MATRIX_WHATSAPP.NOT_LOGGED_IN")
	api.expect(ctx, http.MethodGet, "/resolve/+4917600000002", nil, http.StatusConflict, "COM.GITHUB.MATRIX_WHATSAPP.NOT_LOGGED_IN")
	api.expect(ctx, http.MethodPost, "/dm/+4917600000002", nil, http.StatusConflict, "COM.GITHUB.MATRIX_WHATSAPP.NOT_LOGGED_IN")
	api.expect(ctx, http.MethodPost, "/logout", nil, http.StatusConflict, "COM.GITHUB.MATRIX_WHATSAPP.NOT_LOGGED_IN")
	api.expect(ctx, http.MethodPost, "/login/cancel", nil, http.StatusConflict, "COM.GITHUB.MATRIX_WHATSAPP.NO_LOGIN_IN_PROGRESS")

	// Bad login requests.
	api.expect(ctx, http.MethodPost, "/login/pair_code", `{"phone": `, http.StatusBadRequest, "M_NOT_JSON")
	if out := api.expect(ctx, http.MethodPost, "/login/pair_code", `[1, 2]`, http.StatusBadRequest, "M_NOT_JSON"); strings.Contains(fmt.Sprint(out["error"]), "Go value") {
		t.Errorf("a JSON array answered with the bridge's Go types: %v", out["error"])
	}
	api.expect(ctx, http.MethodPost, "/login/pair_code", `{"phone": "`+strings.Repeat("1", 100<<10)+`"}`, http.StatusRequestEntityTooLarge, "M_TOO_LARGE")
	api.expect(ctx, http.MethodGet, "/login/pair_code", nil, http.StatusMethodNotAllowed, "M_UNRECOGNIZED")
	api.expect(ctx, http.MethodDelete, "/status", nil, http.StatusMethodNotAllowed, "M_UNRECOGNIZED")
	api.expect(ctx, http.MethodPost, "/login/pair_code", map[string]any{}, http.StatusBadRequest, "M_MISSING_PARAM")
	api.expect(ctx, http.MethodPost, "/login/pair_code", map[string]any{"phone": "call me"}, http.StatusBadRequest, "M_INVALID_PARAM")
	// A number WhatsApp does not know: WhatsApp refuses the code, and the client is told why.
	api.expect(ctx, http.MethodPost, "/login/pair_code", map[string]any{"phone": "+4915112345670"}, http.StatusNotFound, "COM.GITHUB.MATRIX_WHATSAPP.NOT_ON_WHATSAPP")

	// A pairing-code login typed on the phone.
	acct, err := env.WA.CreateAccount(ctx, "4915112345678", "Alice Phone")
	if err != nil {
		t.Fatal(err)
	}
	login := api.expect(ctx, http.MethodPost, "/login/pair_code", map[string]any{"phone": "+49 151 12345678"}, http.StatusOK, "")
	first, _ := login["step"].(map[string]any)
	code, _ := first["code"].(string)
	if first["type"] != "pair_code" || !pairCodeRegex.MatchString(code) || first["phone"] != "+4915112345678" {
		t.Fatalf("pair_code answer = %v, want a pair_code step with an XXXX-XXXX code for +4915112345678", login)
	}
	api.expect(ctx, http.MethodPost, "/login/pair_code", map[string]any{"phone": "+4915112345678"}, http.StatusConflict, "COM.GITHUB.MATRIX_WHATSAPP.LOGIN_IN_PROGRESS")
	if err = acct.EnterPairingCode(ctx, code); err != nil {
		t.Fatalf("phone refused the pairing code: %v", err)
	}
	env.WaitForMessage(ctx, alice, room, botNotice(env.Env, "Successfully logged in as +4915112345678"))
	if step := waitLoginOutcome(t, ctx, api, first["seq"]); step["type"] != "success" || step["phone"] != "+4915112345678" {
		t.Errorf("login outcome = %v, want success for +4915112345678", step)
	}
	waitFor(t, ctx, "status to show the connected login", func() bool {
		_, st := api.call(ctx, http.MethodGet, "/status", nil)
		return st["logged_in"] == true && st["state"] == "CONNECTED" && st["phone"] == "+4915112345678" && st["login_in_progress"] == false
	})
	api.expect(ctx, http.MethodPost, "/login/pair_code", map[string]any{"phone": "+4915112345678"}, http.StatusConflict, "COM.GITHUB.MATRIX_WHATSAPP.ALREADY_LOGGED_IN")

	// Contacts: Carol writes first, Dave never does.
	carol, carolGhost := newContact(t, ctx, env, "4917600000002", "Carol")
	_, daveGhost := newContact(t, ctx, env, "4917600000003", "Dave")
	if _, err = carol.SendText(ctx, acct.JID(), "hello"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice, carolGhost)
	env.WaitForMessage(ctx, alice, dm, fromGhost(carolGhost, "hello"))
	contacts := api.expect(ctx, http.MethodGet, "/contacts?query=carol", nil, http.StatusOK, "")
	list, _ := contacts["contacts"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["ghost"] != string(carolGhost) || list[0].(map[string]any)["phone"] != "+4917600000002" {
		t.Errorf("contacts matching carol = %v, want Carol with her ghost", contacts)
	}

	// Resolving numbers.
	resolved := api.expect(ctx, http.MethodGet, "/resolve/+4917600000003", nil, http.StatusOK, "")
	if resolved["on_whatsapp"] != true || resolved["ghost"] != string(daveGhost) || resolved["jid"] != "4917600000003@s.whatsapp.net" {
		t.Errorf("resolve Dave = %v", resolved)
	}
	api.expect(ctx, http.MethodGet, "/resolve/+4917699999999", nil, http.StatusNotFound, "COM.GITHUB.MATRIX_WHATSAPP.NOT_ON_WHATSAPP")
	api.expect(ctx, http.MethodGet, "/resolve/12", nil, http.StatusBadRequest, "M_INVALID_PARAM")

	// Opening a DM: the existing one for Carol, a new one (with an invite) for Dave, the same
	// one again on a repeat, none for a number not on WhatsApp.
	if got := api.expect(ctx, http.MethodPost, "/dm/+4917600000002", nil, http.StatusOK, ""); got["room_id"] != string(dm) {
		t.Errorf("DM with Carol = %v, want the existing %s", got, dm)
	}
	daveDM := api.expect(ctx, http.MethodPost, "/dm/+4917600000003", nil, http.StatusOK, "")
	daveRoom, _ := daveDM["room_id"].(string)
	if daveRoom == "" || daveRoom == string(dm) {
		t.Fatalf("DM with Dave = %v, want a new room", daveDM)
	}
	if invited := env.WaitForInvite(ctx, alice, daveGhost, dm); invited != id.RoomID(daveRoom) {
		t.Errorf("invited to %s, want the DM room %s", invited, daveRoom)
	}
	if again := api.expect(ctx, http.MethodPost, "/dm/+4917600000003", nil, http.StatusOK, ""); again["room_id"] != daveRoom {
		t.Errorf("second DM with Dave = %v, want %s again", again, daveRoom)
	}
	api.expect(ctx, http.MethodPost, "/dm/+4917699999999", nil, http.StatusNotFound, "COM.GITHUB.MATRIX_WHATSAPP.NOT_ON_WHATSAPP")

	// Logout (once the link has settled: see waitAppStateSynced).
	waitAppStateSynced(t, ctx, env, alice, room)
	device := companionDevice(t, acct)
	if out := api.expect(ctx, http.MethodPost, "/logout", nil, http.StatusOK, ""); out["logged_out"] != true {
		t.Errorf("logout = %v", out)
	}
	if st := api.expect(ctx, http.MethodGet, "/status", nil, http.StatusOK, ""); st["logged_in"] != false || st["state"] != "LOGGED_OUT" {
		t.Errorf("status after logout = %v", st)
	}
	waitFor(t, ctx, "the device to leave the phone's linked devices", func() bool { return !acct.Online(device) })
}

// waitLoginOutcome long-polls GET /login/step from the step after seq until the login succeeded or
// failed, and returns that step.
func waitLoginOutcome(t *testing.T, ctx context.Context, api provisioningClient, seq any) map[string]any {
	t.Helper()
	after := int(seq.(float64))
	for ctx.Err() == nil {
		out := api.expect(ctx, http.MethodGet, "/login/step?after="+strconv.Itoa(after), nil, http.StatusOK, "")
		step, _ := out["step"].(map[string]any)
		if step["type"] == "success" || step["type"] == "failed" {
			return step
		}
		after = int(step["seq"].(float64))
	}
	t.Fatal("login never ended")
	return nil
}

// TestProvisioningQRLogin logs in by QR code through the provisioning API: a cancelled attempt
// first, whose end the long poll reports, then one the phone scans.
func TestProvisioningQRLogin(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.Postgres, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "provisioning.enabled", true)
		e2e.SetConfig(cfg, "provisioning.shared_secret", provisioningSecret)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bob := env.NewUser(t, "bob")
	api := provisioningClient{t: t, base: env.BridgeURL(), secret: provisioningSecret, user: bob.UserID}
	api.expect(ctx, http.MethodGet, "/login/step", nil, http.StatusConflict, "COM.GITHUB.MATRIX_WHATSAPP.NO_LOGIN_IN_PROGRESS")
	acct, err := env.WA.CreateAccount(ctx, "4915200000009", "Bob Phone")
	if err != nil {
		t.Fatal(err)
	}

	started := api.expect(ctx, http.MethodPost, "/login/qr", nil, http.StatusOK, "")
	first, _ := started["step"].(map[string]any)
	if first["type"] != "qr" || first["code"] == "" || first["seq"] != float64(1) {
		t.Fatalf("QR login answer = %v, want a first qr step with a code", started)
	}
	api.expect(ctx, http.MethodPost, "/login/qr", nil, http.StatusConflict, "COM.GITHUB.MATRIX_WHATSAPP.LOGIN_IN_PROGRESS")
	// The management room sees the login started elsewhere and can end it.
	room := openManagementRoom(t, ctx, env.Env, bob)
	sendText(t, ctx, bob, room, "list-logins")
	env.WaitForMessage(ctx, bob, room, botNotice(env.Env, "still being linked"))
	sendText(t, ctx, bob, room, "cancel")
	env.WaitForMessage(ctx, bob, room, botNotice(env.Env, "Login cancelled (it was started through the provisioning API)"))
	if step := waitLoginOutcome(t, ctx, api, first["seq"]); step["type"] != "failed" || !strings.Contains(step["error"].(string), "cancelled") {
		t.Errorf("cancelled login's outcome = %v", step)
	}
	api.expect(ctx, http.MethodPost, "/login/cancel", nil, http.StatusConflict, "COM.GITHUB.MATRIX_WHATSAPP.NO_LOGIN_IN_PROGRESS")
	api.expect(ctx, http.MethodGet, "/login/step?after=x", nil, http.StatusBadRequest, "M_INVALID_PARAM")

	started = api.expect(ctx, http.MethodPost, "/login/qr", nil, http.StatusOK, "")
	first, _ = started["step"].(map[string]any)
	if err = acct.ScanQR(ctx, first["code"].(string)); err != nil {
		t.Fatalf("phone failed to scan the QR code: %v", err)
	}
	if step := waitLoginOutcome(t, ctx, api, first["seq"]); step["type"] != "success" || step["phone"] != "+4915200000009" {
		t.Errorf("login outcome = %v, want success for +4915200000009", step)
	}
	if st := api.expect(ctx, http.MethodGet, "/status", nil, http.StatusOK, ""); st["logged_in"] != true || st["phone"] != "+4915200000009" {
		t.Errorf("status after the QR login = %v", st)
	}
	device := companionDevice(t, acct)
	waitFor(t, ctx, "the companion to be online", func() bool { return acct.Online(device) })
}
