package tests

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

const (
	annaPhone = "4915100000001"
	bertPhone = "4915100000002"
)

// TestTwoLoginsOfOneUserChatWithEachOther links two WhatsApp accounts (Anna's and Bert's) to one
// Matrix user and lets them chat with each other through the bridge: each account has its own
// portal of the chat (keyed by its own number), every message shows up once in each, from the
// other account's ghost, and replies leave through the account whose room they are sent in. The
// logins survive a restart; list-logins, set-default-login and logout <number> act on the right
// one.
func TestTwoLoginsOfOneUserChatWithEachOther(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.Postgres, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	anna, err := env.WA.CreateAccount(ctx, annaPhone, "Anna")
	if err != nil {
		t.Fatal(err)
	}
	bert, err := env.WA.CreateAccount(ctx, bertPhone, "Bert")
	if err != nil {
		t.Fatal(err)
	}
	annaGhost, bertGhost := ghostOf(env, annaPhone), ghostOf(env, bertPhone)

	// One Matrix user, two logins: `login` again adds the second account.
	user := env.NewUser(t, "multi")
	room := openManagementRoom(t, ctx, env.Env, user)
	loginQR(t, ctx, env, user, room, anna)
	annaDevice := companionDevice(t, anna)
	loginQR(t, ctx, env, user, room, bert)
	bertDevice := companionDevice(t, bert)
	waitFor(t, ctx, "both companions to be online", func() bool { return anna.Online(annaDevice) && bert.Online(bertDevice) })
	env.WaitForMessage(ctx, user, room, botNotice(env.Env, "Successfully logged in as +"+bertPhone, "You now have 2 WhatsApp logins; +"+annaPhone+" is the default"))
	if anna.Online(annaDevice) != true || len(anna.Devices()) != 2 {
		t.Fatalf("adding a login changed the first one: devices %v", anna.Devices())
	}

	// Each account's name comes with its phone's app state sync, which goes on after the login.
	waitLoginSynced(t, ctx, env, user, room, annaPhone)
	waitLoginSynced(t, ctx, env, user, room, bertPhone)
	listLogins(t, ctx, env, user, room, "+"+annaPhone+" (**Anna**): connected, default", "+"+bertPhone+" (**Bert**): connected")

	// Each account's chat with the other: one through the default login, one named with `from`.
	sendText(t, ctx, user, room, "pm +"+bertPhone)
	annaRoom := joinPortal(t, ctx, env, user, bertGhost) // Anna's chat with Bert
	sendText(t, ctx, user, room, "pm +"+annaPhone+" from +"+bertPhone)
	bertRoom := joinPortal(t, ctx, env, user, annaGhost, annaRoom) // Bert's chat with Anna
	if annaRoom == bertRoom {
		t.Fatalf("both accounts' chats share the room %s", annaRoom)
	}

	// Matrix → WhatsApp through Anna's account, back into Bert's portal from Anna's ghost.
	sendText(t, ctx, user, annaRoom, "hello from Anna's account")
	waitSentBy(t, ctx, bert.Phone(), "hello from Anna's account", anna)
	env.WaitForMessage(ctx, user, bertRoom, fromGhost(annaGhost, "hello from Anna's account"))
	// The reply goes out through Bert's account and shows up in Anna's portal from Bert's ghost.
	sendText(t, ctx, user, bertRoom, "hello back from Bert's account")
	waitSentBy(t, ctx, anna.Phone(), "hello back from Bert's account", bert)
	env.WaitForMessage(ctx, user, annaRoom, fromGhost(bertGhost, "hello back from Bert's account"))
	// From a phone: Anna types to Bert on her phone.
	if _, err = anna.Phone().SendText(ctx, bert.JID(), "typed on Anna's phone"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, user, bertRoom, fromGhost(annaGhost, "typed on Anna's phone"))
	env.WaitForMessage(ctx, user, annaRoom, fromGhost(annaGhost, "typed on Anna's phone"))

	// Groups: one only Bert's account is in, one both accounts are in. Carol's messages show up
	// once; the user's messages leave through an account that is in the group (the default
	// login, Anna's, when it is).
	carol, carolGhost := newContact(t, ctx, env, "4917600000002", "Carol")
	bertsGroup, err := env.WA.CreateGroup(ctx, carol.Account(), "Bert's club", bert)
	if err != nil {
		t.Fatal(err)
	}
	bertsGroupRoom := joinPortal(t, ctx, env, user, env.BotMXID(), room, annaRoom, bertRoom)
	bothGroup, err := env.WA.CreateGroup(ctx, carol.Account(), "Everyone", anna, bert)
	if err != nil {
		t.Fatal(err)
	}
	bothGroupRoom := joinPortal(t, ctx, env, user, env.BotMXID(), room, annaRoom, bertRoom, bertsGroupRoom)
	if _, err = carol.SendText(ctx, bertsGroup, "hi Bert's club"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, user, bertsGroupRoom, fromGhost(carolGhost, "hi Bert's club"))
	if _, err = carol.SendText(ctx, bothGroup, "hi everyone"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, user, bothGroupRoom, fromGhost(carolGhost, "hi everyone"))
	sendText(t, ctx, user, bertsGroupRoom, "Bert writes to his club")
	waitSentBy(t, ctx, carol, "Bert writes to his club", bert)
	sendText(t, ctx, user, bothGroupRoom, "Anna writes to everyone")
	waitSentBy(t, ctx, carol, "Anna writes to everyone", anna)
	waitSentBy(t, ctx, bert.Phone(), "Anna writes to everyone", anna)

	// The restart keeps both logins and both portals.
	env.RestartBridge()
	waitFor(t, ctx, "both sessions to reconnect after the restart", func() bool { return anna.Online(annaDevice) && bert.Online(bertDevice) })
	sendText(t, ctx, user, bertRoom, "after the restart, from Bert's account")
	waitSentBy(t, ctx, anna.Phone(), "after the restart, from Bert's account", bert)
	env.WaitForMessage(ctx, user, annaRoom, fromGhost(bertGhost, "after the restart, from Bert's account"))
	sendText(t, ctx, user, annaRoom, "after the restart, from Anna's account")
	env.WaitForMessage(ctx, user, bertRoom, fromGhost(annaGhost, "after the restart, from Anna's account"))

	// No mix-ups and no echoes: each room holds each message once, from the right sender.
	me := user.UserID
	expectRoomMessages(t, ctx, user, annaRoom, []roomMessage{
		{me, "hello from Anna's account"},
		{bertGhost, "hello back from Bert's account"},
		{annaGhost, "typed on Anna's phone"},
		{bertGhost, "after the restart, from Bert's account"},
		{me, "after the restart, from Anna's account"},
	})
	expectRoomMessages(t, ctx, user, bertRoom, []roomMessage{
		{annaGhost, "hello from Anna's account"},
		{me, "hello back from Bert's account"},
		{annaGhost, "typed on Anna's phone"},
		{me, "after the restart, from Bert's account"},
		{annaGhost, "after the restart, from Anna's account"},
	})
	expectRoomMessages(t, ctx, user, bothGroupRoom, []roomMessage{{carolGhost, "hi everyone"}, {me, "Anna writes to everyone"}})
	expectRoomMessages(t, ctx, user, bertsGroupRoom, []roomMessage{{carolGhost, "hi Bert's club"}, {me, "Bert writes to his club"}})
	for _, c := range []struct {
		phone *wasim.Contact
		text  string
	}{
		{carol, "Anna writes to everyone"}, {carol, "Bert writes to his club"},
		{bert.Phone(), "hello from Anna's account"}, {anna.Phone(), "hello back from Bert's account"},
		{anna.Phone(), "after the restart, from Bert's account"}, {bert.Phone(), "after the restart, from Anna's account"},
	} {
		if n := c.phone.Count(func(evt any) bool { m, ok := evt.(*events.Message); return ok && wasim.MessageText(m) == c.text }); n != 1 {
			t.Errorf("%s's phone received %q %d times, want once", c.phone.JID().User, c.text, n)
		}
	}

	// Managing the logins.
	sendText(t, ctx, user, room, "set-default-login +"+bertPhone)
	env.WaitForMessage(ctx, user, room, botNotice(env.Env, "Your default WhatsApp login is now +"+bertPhone+"."))
	listLogins(t, ctx, env, user, room, "+"+annaPhone+" (**Anna**): connected\n", "+"+bertPhone+" (**Bert**): connected, default")
	sendText(t, ctx, user, room, "set-default-login +4915199999999")
	env.WaitForMessage(ctx, user, room, botNotice(env.Env, "`+4915199999999` is not one of your WhatsApp logins."))
	sendText(t, ctx, user, room, "logout +4915199999999")
	env.WaitForMessage(ctx, user, room, botNotice(env.Env, "`+4915199999999` is not one of your WhatsApp logins."))

	// Disconnecting a login that is not the default names it in the hint to reconnect.
	sendText(t, ctx, user, room, "disconnect +"+annaPhone)
	env.WaitForMessage(ctx, user, room, botNotice(env.Env, "Disconnected +"+annaPhone+" from WhatsApp. Send `reconnect +"+annaPhone+"`"))
	sendText(t, ctx, user, room, "reconnect +"+annaPhone)
	waitFor(t, ctx, "Anna's login to be connected again", func() bool { return anna.Online(annaDevice) })

	waitLoginSynced(t, ctx, env, user, room, annaPhone)
	sendText(t, ctx, user, room, "logout +"+annaPhone)
	env.WaitForMessage(ctx, user, room, botNotice(env.Env, "Logged out of WhatsApp as +"+annaPhone+". Your default login is now +"+bertPhone+"."))
	waitFor(t, ctx, "Anna's device to leave her linked devices", func() bool { return len(anna.Devices()) == 1 })
	if !bert.Online(bertDevice) {
		t.Error("logging out Anna's account disconnected Bert's")
	}
	listLogins(t, ctx, env, user, room, "+"+bertPhone+" (**Bert**): connected, default")
	if n := countNotices(t, ctx, env.Env, user, room, "Your WhatsApp logins:", "+"+annaPhone); n != 2 {
		t.Errorf("%d login lists name Anna's number, want only the 2 from before her logout", n)
	}
	// Bert's chat still works; Anna's room no longer bridges.
	sendText(t, ctx, user, bertRoom, "Bert is still here")
	waitSentBy(t, ctx, anna.Phone(), "Bert is still here", bert)

	// Linking Bert's number again replaces the login's device instead of adding a login.
	waitLoginSynced(t, ctx, env, user, room, bertPhone)
	linked := countNotices(t, ctx, env.Env, user, room, "Successfully logged in as +"+bertPhone)
	earlier := botImagesIn(t, ctx, env, user, room)
	sendText(t, ctx, user, room, "login")
	qr := env.WaitForMessage(ctx, user, room, func(evt *event.Event) bool {
		return isBotImage(env)(evt) && !earlier[evt.ID]
	})
	if err = bert.ScanQR(ctx, decodeQR(t, ctx, user, qr)); err != nil {
		t.Fatalf("Bert's phone failed to scan the QR code: %v", err)
	}
	waitForNotices(t, ctx, env.Env, user, room, linked+1, "Successfully logged in as +"+bertPhone)
	waitFor(t, ctx, "the old device to leave Bert's linked devices", func() bool {
		devices := bert.Devices()
		return len(devices) == 2 && devices[1].Device != bertDevice && bert.Online(devices[1].Device)
	})
	listLogins(t, ctx, env, user, room, "Your WhatsApp logins:\n\n* +"+bertPhone+" (**Bert**): connected, default\n\nCommands")
	sendText(t, ctx, user, bertRoom, "from Bert's new device")
	waitSentBy(t, ctx, anna.Phone(), "from Bert's new device", bert)
}

// TestProvisioningTwoLogins drives two logins of one user through the provisioning API: a
// second login adds an account, login_id picks the account a request acts through (the default
// without it), /logins and /status show both, and logout with login_id leaves the other. The
// status endpoint gets each login's state and the metrics count both logins.
func TestProvisioningTwoLogins(t *testing.T) {
	t.Parallel()
	receiver := newStateReceiver(t)
	metricsAddr := freeLoopbackAddr(t)
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "provisioning.enabled", true)
		e2e.SetConfig(cfg, "provisioning.shared_secret", provisioningSecret)
		e2e.SetConfig(cfg, "homeserver.status_endpoint", receiver.URL+"/bridge_state")
		e2e.SetConfig(cfg, "metrics.enabled", true)
		e2e.SetConfig(cfg, "metrics.listen", metricsAddr)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	anna, err := env.WA.CreateAccount(ctx, annaPhone, "Anna")
	if err != nil {
		t.Fatal(err)
	}
	bert, err := env.WA.CreateAccount(ctx, bertPhone, "Bert")
	if err != nil {
		t.Fatal(err)
	}
	carol, carolGhost := newContact(t, ctx, env, "4917600000002", "Carol")
	user := env.NewUser(t, "multi")
	room := openManagementRoom(t, ctx, env.Env, user)
	api := provisioningClient{t: t, base: env.BridgeURL(), secret: provisioningSecret, user: user.UserID}

	pairByAPI(t, ctx, env, api, user, room, anna)
	pairByAPI(t, ctx, env, api, user, room, bert)
	// A pairing code for a number that is logged in already is refused.
	api.expect(ctx, http.MethodPost, "/login/pair_code", map[string]any{"phone": "+" + bertPhone}, http.StatusConflict, "COM.GITHUB.MATRIX_WHATSAPP.ALREADY_LOGGED_IN")

	waitFor(t, ctx, "both logins to be listed as connected", func() bool {
		_, out := api.call(ctx, http.MethodGet, "/logins", nil)
		logins, _ := out["logins"].([]any)
		if len(logins) != 2 || out["default_login"] != annaPhone {
			return false
		}
		first, second := logins[0].(map[string]any), logins[1].(map[string]any)
		return first["login_id"] == annaPhone && first["default"] == true && first["state"] == "CONNECTED" &&
			second["login_id"] == bertPhone && second["default"] == false && second["state"] == "CONNECTED"
	})
	for _, phone := range []string{annaPhone, bertPhone} {
		receiver.waitState(t, ctx, user.UserID, 0, "CONNECTED of +"+phone, func(st pushedState) bool {
			return st.StateEvent == "CONNECTED" && st.RemoteID == phone && st.RemoteProfile.Phone == "+"+phone
		})
	}
	waitMetrics(t, ctx, "http://"+metricsAddr+"/metrics", "both logins connected", func(m map[string]float64) bool {
		return m[`matrix_whatsapp_logins{state="CONNECTED"}`] == 2 && m[`matrix_whatsapp_whatsapp_connected_sockets`] == 2
	})
	status := api.expect(ctx, http.MethodGet, "/status", nil, http.StatusOK, "")
	if status["phone"] != "+"+annaPhone || len(status["logins"].([]any)) != 2 {
		t.Errorf("status = %v, want the default login (Anna's) with both logins listed", status)
	}
	if bs, _ := status["bridge_state"].(map[string]any); bs["remote_id"] != annaPhone {
		t.Errorf("bridge state of the default login = %v, want Anna's", bs)
	}
	status = api.expect(ctx, http.MethodGet, "/status?login_id=%2B"+bertPhone, nil, http.StatusOK, "")
	if bs, _ := status["bridge_state"].(map[string]any); status["phone"] != "+"+bertPhone || bs["remote_id"] != bertPhone || bs["state_event"] != "CONNECTED" {
		t.Errorf("status of Bert's login = %v", status)
	}
	api.expect(ctx, http.MethodGet, "/status?login_id=4915199999999", nil, http.StatusNotFound, "COM.GITHUB.MATRIX_WHATSAPP.UNKNOWN_LOGIN")
	api.expect(ctx, http.MethodGet, "/status?login_id=nonsense", nil, http.StatusBadRequest, "M_INVALID_PARAM")
	api.expect(ctx, http.MethodPost, "/logins/4915199999999/default", nil, http.StatusNotFound, "COM.GITHUB.MATRIX_WHATSAPP.UNKNOWN_LOGIN")
	api.expect(ctx, http.MethodPost, "/logins/nonsense/default", nil, http.StatusBadRequest, "M_INVALID_PARAM")

	// A DM opened through each login is that account's own chat with Carol.
	annaDM := api.expect(ctx, http.MethodPost, "/dm/+4917600000002", nil, http.StatusOK, "")["room_id"]
	bertDM := api.expect(ctx, http.MethodPost, "/dm/+4917600000002?login_id="+bertPhone, nil, http.StatusOK, "")["room_id"]
	if annaDM == nil || bertDM == nil || annaDM == bertDM {
		t.Fatalf("DMs with Carol: %v through Anna's login, %v through Bert's; want two rooms", annaDM, bertDM)
	}
	for _, dm := range []any{annaDM, bertDM} {
		if _, err = user.JoinRoomByID(ctx, id.RoomID(dm.(string))); err != nil {
			t.Fatal(err)
		}
	}
	sendText(t, ctx, user, id.RoomID(bertDM.(string)), "Carol, this is Bert")
	waitSentBy(t, ctx, carol, "Carol, this is Bert", bert)
	if _, err = carol.SendText(ctx, anna.JID(), "hi Anna"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, user, id.RoomID(annaDM.(string)), fromGhost(carolGhost, "hi Anna"))

	// The default moves; requests without login_id follow it.
	if out := api.expect(ctx, http.MethodPost, "/logins/+"+bertPhone+"/default", nil, http.StatusOK, ""); out["default_login"] != bertPhone {
		t.Errorf("set default = %v", out)
	}
	if again := api.expect(ctx, http.MethodPost, "/dm/+4917600000002", nil, http.StatusOK, ""); again["room_id"] != bertDM {
		t.Errorf("DM through the new default = %v, want Bert's room %v", again, bertDM)
	}

	// Logging out one login leaves the other.
	waitLoginSynced(t, ctx, env, user, room, annaPhone)
	annaDevice := companionDevice(t, anna)
	if out := api.expect(ctx, http.MethodPost, "/logout?login_id="+annaPhone, nil, http.StatusOK, ""); out["logged_out"] != true {
		t.Errorf("logout of Anna's login = %v", out)
	}
	waitFor(t, ctx, "Anna's device to leave her linked devices", func() bool { return !anna.Online(annaDevice) && len(anna.Devices()) == 1 })
	receiver.waitState(t, ctx, user.UserID, 0, "LOGGED_OUT of +"+annaPhone, func(st pushedState) bool {
		return st.StateEvent == "LOGGED_OUT" && st.RemoteID == annaPhone
	})
	waitMetrics(t, ctx, "http://"+metricsAddr+"/metrics", "one login connected", func(m map[string]float64) bool {
		return m[`matrix_whatsapp_logins{state="CONNECTED"}`] == 1 && m[`matrix_whatsapp_whatsapp_connected_sockets`] == 1
	})
	out := api.expect(ctx, http.MethodGet, "/logins", nil, http.StatusOK, "")
	if logins, _ := out["logins"].([]any); len(logins) != 1 || logins[0].(map[string]any)["login_id"] != bertPhone || out["default_login"] != bertPhone {
		t.Errorf("logins after logging out Anna's = %v, want only Bert's", out)
	}
	api.expect(ctx, http.MethodGet, "/contacts?login_id="+annaPhone, nil, http.StatusNotFound, "COM.GITHUB.MATRIX_WHATSAPP.UNKNOWN_LOGIN")
	if st := api.expect(ctx, http.MethodGet, "/status", nil, http.StatusOK, ""); st["logged_in"] != true || st["phone"] != "+"+bertPhone {
		t.Errorf("status after logging out Anna's login = %v, want Bert's", st)
	}
}

// pairByAPI logs acct in through the provisioning API with a pairing code.
func pairByAPI(t *testing.T, ctx context.Context, env *waEnv, api provisioningClient, user *mautrix.Client, room id.RoomID, acct *wasim.Account) {
	t.Helper()
	login := api.expect(ctx, http.MethodPost, "/login/pair_code", map[string]any{"phone": "+" + acct.JID().User}, http.StatusOK, "")
	first, _ := login["step"].(map[string]any)
	code, _ := first["code"].(string)
	if err := acct.EnterPairingCode(ctx, code); err != nil {
		t.Fatalf("phone refused the pairing code %q: %v", code, err)
	}
	if step := waitLoginOutcome(t, ctx, api, first["seq"]); step["type"] != "success" || step["phone"] != "+"+acct.JID().User {
		t.Fatalf("login outcome = %v, want success for +%s", step, acct.JID().User)
	}
	env.WaitForMessage(ctx, user, room, botNotice(env.Env, "Successfully logged in as +"+acct.JID().User))
}

// roomMessage is a message expected in a room: its sender and body.
type roomMessage struct {
	sender id.UserID
	body   string
}

// expectRoomMessages checks that the room's text messages are exactly want, in order.
func expectRoomMessages(t *testing.T, ctx context.Context, client *mautrix.Client, roomID id.RoomID, want []roomMessage) {
	t.Helper()
	timeline, err := e2e.Timeline(ctx, client, roomID, 200)
	if err != nil {
		t.Fatal(err)
	}
	var got []roomMessage
	for _, evt := range timeline {
		if evt.Type == event.EventMessage && evt.Content.AsMessage().MsgType == event.MsgText {
			got = append(got, roomMessage{evt.Sender, evt.Content.AsMessage().Body})
		}
	}
	if len(got) != len(want) {
		t.Errorf("room %s holds %v, want %v", roomID, got, want)
		return
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("room %s holds %v, want %v", roomID, got, want)
			return
		}
	}
}

// waitSentBy waits until the phone c received text, sent by the account from.
func waitSentBy(t *testing.T, ctx context.Context, c *wasim.Contact, text string, from *wasim.Account) {
	t.Helper()
	msg := waitWAText(t, ctx, c, text)
	sender := msg.Info.Sender.ToNonAD()
	if sender != from.JID() && sender != from.LID() {
		t.Errorf("%q reached %s from %s, want from %s", text, c.JID().User, sender, from.JID())
	}
}

// listLogins sends list-logins and waits for the answer, which must contain every part.
func listLogins(t *testing.T, ctx context.Context, env *waEnv, client *mautrix.Client, room id.RoomID, parts ...string) {
	t.Helper()
	asked := countNotices(t, ctx, env.Env, client, room, "Your WhatsApp logins:")
	sendText(t, ctx, client, room, "list-logins")
	waitForNotices(t, ctx, env.Env, client, room, asked+1, "Your WhatsApp logins:")
	if countNotices(t, ctx, env.Env, client, room, append([]string{"Your WhatsApp logins:"}, parts...)...) == 0 {
		timeline, _ := e2e.Timeline(ctx, client, room, 5)
		var last []string
		for _, evt := range timeline {
			last = append(last, evt.Content.AsMessage().Body)
		}
		t.Errorf("list-logins did not say %q; the room's last messages: %s", parts, strings.Join(last, " | "))
	}
}

// waitLoginSynced asks `status <phone>` until the login of that number has synced the phone's
// app state (see waitAppStateSynced, which does the same for a single login).
func waitLoginSynced(t *testing.T, ctx context.Context, env *waEnv, client *mautrix.Client, room id.RoomID, phone string) {
	t.Helper()
	for ctx.Err() == nil {
		asked := countNotices(t, ctx, env.Env, client, room, "Logged in as +"+phone)
		sendText(t, ctx, client, room, "status +"+phone)
		waitForNotices(t, ctx, env.Env, client, room, asked+1, "Logged in as +"+phone)
		if countNotices(t, ctx, env.Env, client, room, "Logged in as +"+phone, appStateSyncedNotice) > 0 {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("the login +%s never synced the phone's app state", phone)
}
