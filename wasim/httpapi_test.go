package wasim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// controlClient calls a control API at base (an httptest server or the simulator's own port).
type controlClient struct {
	t    testing.TB
	base string
	hc   *http.Client
}

func newControlClient(t testing.TB, srv *Server) *controlClient {
	ts := httptest.NewServer(srv.ControlHandler())
	t.Cleanup(ts.Close)
	return &controlClient{t: t, base: ts.URL, hc: ts.Client()}
}

// do sends a request with a raw body and decodes the JSON answer into out (if not nil). It
// returns the status and, for errors, the "error" text.
func (c *controlClient) do(method, path, body string, out any) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatalf("bad request: %v", err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s failed: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		c.t.Fatalf("%s %s answered %q: %s", method, path, ct, data)
	}
	if resp.StatusCode >= 400 {
		var e struct{ Error string }
		if err = json.Unmarshal(data, &e); err != nil || e.Error == "" {
			c.t.Fatalf("%s %s: error body %q is not {\"error\": ...}", method, path, data)
		}
		return resp.StatusCode, e.Error
	}
	if out != nil {
		if err = json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: cannot decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, ""
}

// expect calls do and fails unless the status is want and, for errors, the text contains errPart.
func (c *controlClient) expect(want int, errPart, method, path, body string, out any) {
	c.t.Helper()
	status, errText := c.do(method, path, body, out)
	if status != want || !strings.Contains(errText, errPart) {
		c.t.Fatalf("%s %s %s: status %d error %q, want %d containing %q", method, path, body, status, errText, want, errPart)
	}
}

func mustJSON(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

func TestControlAPIAccounts(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	api := newControlClient(t, srv)
	phone, other := newPhoneNumber(), newPhoneNumber()

	var acct apiAccount
	api.expect(http.StatusCreated, "", "POST", "/_wasim/accounts", mustJSON(map[string]string{"phone": "+" + phone, "push_name": "Ann"}), &acct)
	if acct.Phone != phone || acct.PushName != "Ann" || !strings.HasSuffix(acct.LID, "@lid") ||
		len(acct.Devices) != 1 || acct.Devices[0].ID != 0 || !acct.Devices[0].Online {
		t.Fatalf("created account %+v", acct)
	}
	api.expect(http.StatusCreated, "", "POST", "/_wasim/contacts", mustJSON(map[string]string{"phone": other, "push_name": "Ben"}), nil)

	// Bad input.
	api.expect(http.StatusConflict, "already exists", "POST", "/_wasim/accounts", mustJSON(map[string]string{"phone": phone}), nil)
	api.expect(http.StatusBadRequest, "invalid phone number", "POST", "/_wasim/accounts", `{"phone": "12ab"}`, nil)
	api.expect(http.StatusBadRequest, `missing field "phone"`, "POST", "/_wasim/accounts", `{"push_name": "X"}`, nil)
	api.expect(http.StatusBadRequest, "malformed JSON", "POST", "/_wasim/accounts", `{"phone": `, nil)
	api.expect(http.StatusBadRequest, "malformed JSON", "POST", "/_wasim/contacts", `{"phone": "4915100000", "name": "typo"}`, nil)
	api.expect(http.StatusNotFound, "no such account", "GET", "/_wasim/accounts/4930999999", "", nil)
	api.expect(http.StatusNotFound, "no such endpoint", "GET", "/_wasim/nothing", "", nil)
	api.expect(http.StatusNotFound, "no such endpoint", "PUT", "/_wasim/accounts", "{}", nil)

	var list []apiAccount
	api.expect(http.StatusOK, "", "GET", "/_wasim/accounts", "", &list)
	if len(list) != 2 || list[0].Phone > list[1].Phone {
		t.Fatalf("account list %+v", list)
	}
	var one apiAccount
	api.expect(http.StatusOK, "", "GET", "/_wasim/accounts/"+other, "", &one)
	if one.PushName != "Ben" {
		t.Fatalf("account %+v", one)
	}
	var devices []apiDevice
	api.expect(http.StatusOK, "", "GET", "/_wasim/accounts/"+phone+"/devices", "", &devices)
	if len(devices) != 1 || devices[0].ID != 0 || !strings.HasPrefix(devices[0].JID, phone+"@") {
		t.Fatalf("devices %+v", devices)
	}
	api.expect(http.StatusNotFound, "no such account", "GET", "/_wasim/accounts/4930999999/devices", "", nil)
	api.expect(http.StatusBadRequest, "cannot be removed", "DELETE", "/_wasim/accounts/"+phone+"/devices/0", "", nil)
	api.expect(http.StatusBadRequest, "invalid device id", "DELETE", "/_wasim/accounts/"+phone+"/devices/x", "", nil)
	api.expect(http.StatusNotFound, "no such device", "DELETE", "/_wasim/accounts/"+phone+"/devices/7", "", nil)

	var info map[string]string
	api.expect(http.StatusOK, "", "GET", "/_wasim/info", "", &info)
	if info["addr"] != srv.Addr() || info["root_pubkey"] != srv.RootPublicKeyHex() {
		t.Fatalf("info %v", info)
	}
}

func TestControlAPIPairingAndMessages(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	api := newControlClient(t, srv)
	phone, bobPhone := newPhoneNumber(), newPhoneNumber()
	api.expect(http.StatusCreated, "", "POST", "/_wasim/accounts", mustJSON(map[string]string{"phone": phone, "push_name": "Ann"}), nil)
	api.expect(http.StatusCreated, "", "POST", "/_wasim/contacts", mustJSON(map[string]string{"phone": bobPhone, "push_name": "Bob"}), nil)

	// QR pairing through the API.
	ann := newCompanion(t, srv, "")
	if err := ann.cli.Connect(); err != nil {
		t.Fatalf("connect failed: %v", err)
	}
	evt, err := ann.WaitEvent(ctx, isType[*events.QR])
	if err != nil {
		t.Fatalf("no QR: %v", err)
	}
	qr := evt.(*events.QR).Codes[0]
	api.expect(http.StatusBadRequest, `missing field "qr"`, "POST", "/_wasim/qr/scan", mustJSON(map[string]string{"phone": phone}), nil)
	api.expect(http.StatusNotFound, "no such account", "POST", "/_wasim/qr/scan", mustJSON(map[string]string{"phone": "4930999999", "qr": qr}), nil)
	api.expect(http.StatusBadRequest, "invalid QR", "POST", "/_wasim/qr/scan", mustJSON(map[string]string{"phone": phone, "qr": "hello"}), nil)
	var paired apiAccount
	api.expect(http.StatusOK, "", "POST", "/_wasim/qr/scan", mustJSON(map[string]string{"phone": phone, "qr": qr}), &paired)
	if len(paired.Devices) != 2 {
		t.Fatalf("after scanning: %+v", paired)
	}
	ann.waitConnected(t, ctx, 0)
	waitLinkSettled(t, ctx, ann, true)

	// Text from the contact's phone, and errors of the send endpoint.
	var sent map[string]string
	api.expect(http.StatusCreated, "", "POST", "/_wasim/messages", mustJSON(map[string]string{"from": bobPhone, "to": "+" + phone, "text": "hello Ann"}), &sent)
	msg, err := ann.WaitMessage(ctx, textIs("hello Ann"))
	if err != nil || msg.Info.ID != sent["id"] {
		t.Fatalf("companion did not get the text with id %q: %v", sent["id"], err)
	}
	api.expect(http.StatusNotFound, "no such account", "POST", "/_wasim/messages", mustJSON(map[string]string{"from": "4930999999", "to": phone, "text": "x"}), nil)
	api.expect(http.StatusBadRequest, `missing field "text"`, "POST", "/_wasim/messages", mustJSON(map[string]string{"from": bobPhone, "to": phone}), nil)
	api.expect(http.StatusBadRequest, `missing field "to"`, "POST", "/_wasim/messages", mustJSON(map[string]string{"from": bobPhone, "text": "x"}), nil)
	api.expect(http.StatusBadRequest, "invalid phone number", "POST", "/_wasim/messages", mustJSON(map[string]string{"from": bobPhone, "to": "12", "text": "x"}), nil)
	api.expect(http.StatusBadRequest, "unknown kind", "POST", "/_wasim/messages", mustJSON(map[string]string{"from": bobPhone, "to": phone, "kind": "hologram"}), nil)
	api.expect(http.StatusBadRequest, `missing field "data"`, "POST", "/_wasim/messages", mustJSON(map[string]string{"from": bobPhone, "to": phone, "kind": "image"}), nil)

	// A reply, a reaction, an edit and a delete of that text, as WhatsApp's apps send them.
	hello := sent["id"]
	act := func(fields map[string]string, want func(*events.Message) bool, what string) {
		t.Helper()
		fields["from"], fields["to"] = bobPhone, phone
		var got map[string]string
		api.expect(http.StatusCreated, "", "POST", "/_wasim/messages", mustJSON(fields), &got)
		msg, err := ann.WaitMessage(ctx, idIs(got["id"]))
		if err != nil || !want(msg) {
			t.Fatalf("%s: got %v, %v", what, msg, err)
		}
	}
	act(map[string]string{"text": "as I said", "reply_to": hello}, func(m *events.Message) bool {
		info := m.Message.GetExtendedTextMessage().GetContextInfo()
		return info.GetStanzaID() == hello && m.Message.GetExtendedTextMessage().GetText() == "as I said"
	}, "reply")
	act(map[string]string{"text": "👍", "react_to": hello}, func(m *events.Message) bool {
		r := m.Message.GetReactionMessage()
		return r.GetText() == "👍" && r.GetKey().GetID() == hello && r.GetKey().GetFromMe()
	}, "reaction")
	act(map[string]string{"text": "hello, Ann", "edit_of": hello}, func(m *events.Message) bool {
		return m.IsEdit && m.Message.GetProtocolMessage().GetKey().GetID() == hello
	}, "edit")
	act(map[string]string{"delete_of": hello}, func(m *events.Message) bool {
		pm := m.Message.GetProtocolMessage()
		return pm.GetType() == waE2E.ProtocolMessage_REVOKE && pm.GetKey().GetID() == hello
	}, "delete")
	api.expect(http.StatusBadRequest, "give one of", "POST", "/_wasim/messages", mustJSON(map[string]string{"from": bobPhone, "to": phone, "react_to": hello, "delete_of": hello}), nil)
	api.expect(http.StatusBadRequest, "the edited text", "POST", "/_wasim/messages", mustJSON(map[string]string{"from": bobPhone, "to": phone, "edit_of": hello}), nil)

	// An image through the API arrives and downloads intact.
	picture := randomBytes(4321)
	api.expect(http.StatusCreated, "", "POST", "/_wasim/messages", mustJSON(map[string]any{
		"from": bobPhone, "to": phone, "kind": "image", "data": picture, "caption": "look", "mime_type": "image/png",
	}), &sent)
	msg, err = ann.WaitMessage(ctx, idIs(sent["id"]))
	if err != nil {
		t.Fatalf("image never arrived: %v", err)
	}
	if got, err := ann.cli.Download(ctx, msg.Message.GetImageMessage()); err != nil || !bytes.Equal(got, picture) ||
		msg.Message.GetImageMessage().GetCaption() != "look" {
		t.Fatalf("image download: %v (equal %v)", err, bytes.Equal(got, picture))
	}

	// A Lottie sticker through the API arrives as WhatsApp's apps send one.
	was, still := randomBytes(2345), testPNG(t, 64, 48)
	api.expect(http.StatusBadRequest, `needs kind "sticker"`, "POST", "/_wasim/messages", mustJSON(map[string]any{
		"from": bobPhone, "to": phone, "kind": "image", "data": was, "lottie": true}), nil)
	api.expect(http.StatusCreated, "", "POST", "/_wasim/messages", mustJSON(map[string]any{
		"from": bobPhone, "to": phone, "kind": "sticker", "data": was, "lottie": true, "thumbnail": still,
	}), &sent)
	msg, err = ann.WaitMessage(ctx, idIs(sent["id"]))
	if err != nil {
		t.Fatalf("Lottie sticker never arrived: %v", err)
	}
	checkLottieSticker(t, ctx, ann.cli, msg, was, still, 64, 48)

	// What the contact received, as JSON.
	resp, err := ann.cli.SendMessage(ctx, srvAccountJID(t, srv, bobPhone), textMessage("hi Bob"))
	if err != nil {
		t.Fatalf("companion send failed: %v", err)
	}
	var inbox []apiMessage
	for {
		api.expect(http.StatusOK, "", "GET", "/_wasim/messages?phone="+bobPhone, "", &inbox)
		if containsID(inbox, resp.ID) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("contact's inbox never listed %s: %+v", resp.ID, inbox)
		case <-time.After(20 * time.Millisecond):
		}
	}
	got := inbox[len(inbox)-1]
	if got.ID != resp.ID || got.Text != "hi Bob" || got.Kind != KindText || got.FromMe || got.Timestamp.IsZero() ||
		got.FromPhone != phone || got.From == "" || got.Chat == "" {
		t.Fatalf("inbox entry %+v", got)
	}
	// The account's phone got Bob's image too.
	// The phone decrypts on its own, independently of the companion: wait for it.
	var images []apiMessage
	for api.expect(http.StatusOK, "", "GET", "/_wasim/messages?phone="+phone+"&kind=image", "", &images); len(images) == 0; {
		select {
		case <-ctx.Done():
			t.Fatal("the account's phone never listed Bob's image")
		case <-time.After(20 * time.Millisecond):
		}
		api.expect(http.StatusOK, "", "GET", "/_wasim/messages?phone="+phone+"&kind=image", "", &images)
	}
	if len(images) != 1 || images[0].FromMe || images[0].Text != "look" || images[0].FileSize != uint64(len(picture)) ||
		images[0].MimeType != "image/png" || images[0].PushName != "Bob" {
		t.Fatalf("phone's images %+v", images)
	}
	api.expect(http.StatusBadRequest, `missing field "phone"`, "GET", "/_wasim/messages", "", nil)
	api.expect(http.StatusNotFound, "no such account", "GET", "/_wasim/messages?phone=4930999999", "", nil)
}

func srvAccountJID(t *testing.T, srv *Server, phone string) types.JID {
	t.Helper()
	acct, err := srv.Account(phone)
	if err != nil {
		t.Fatalf("no account %s: %v", phone, err)
	}
	return acct.JID()
}

func containsID(list []apiMessage, id string) bool {
	for _, m := range list {
		if m.ID == id {
			return true
		}
	}
	return false
}

func TestControlAPIPairingCode(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	api := newControlClient(t, srv)
	phone := newPhoneNumber()
	api.expect(http.StatusCreated, "", "POST", "/_wasim/accounts", mustJSON(map[string]string{"phone": phone, "push_name": "Cy"}), nil)
	api.expect(http.StatusConflict, "no client is waiting", "POST", "/_wasim/pairing-code", mustJSON(map[string]string{"phone": phone, "code": "ABCD-EFGH"}), nil)
	api.expect(http.StatusBadRequest, `missing field "code"`, "POST", "/_wasim/pairing-code", mustJSON(map[string]string{"phone": phone}), nil)

	cy := newCompanion(t, srv, "")
	if err := cy.cli.Connect(); err != nil {
		t.Fatalf("connect failed: %v", err)
	}
	if _, err := cy.WaitEvent(ctx, isType[*events.QR]); err != nil {
		t.Fatalf("no QR: %v", err)
	}
	pair := func() string {
		code, err := cy.cli.PairPhone(ctx, "+"+phone, true, whatsmeow.PairClientChrome, "Chrome (Linux)")
		if err != nil {
			t.Fatalf("PairPhone failed: %v", err)
		}
		return code
	}
	pair()
	api.expect(http.StatusBadRequest, "wrong pairing code", "POST", "/_wasim/pairing-code", mustJSON(map[string]string{"phone": phone, "code": "ZZZZ-ZZZZ"}), nil)
	var acct apiAccount
	api.expect(http.StatusOK, "", "POST", "/_wasim/pairing-code", mustJSON(map[string]string{"phone": phone, "code": pair()}), &acct)
	cy.waitConnected(t, ctx, 0)
	waitLinkSettled(t, ctx, cy, true)
	if len(acct.Devices) != 2 {
		t.Fatalf("after pairing: %+v", acct)
	}
	api.expect(http.StatusOK, "", "DELETE", "/_wasim/accounts/"+phone+"/devices/"+itoa(int(acct.Devices[1].ID)), "", nil)
	if _, err := cy.WaitEvent(ctx, isType[*events.LoggedOut]); err != nil {
		t.Fatalf("removed companion was not logged out: %v", err)
	}
}

// settled tracks the Connected events of every client of a test, so that the next fault is only
// injected once all of them finished reconnecting (a fault in the middle of whatsmeow's
// post-connect IQs trips a data race inside whatsmeow's dependencies).
type settled struct {
	logs []*EventLog
	seen []int
}

func newSettled(logs ...*EventLog) *settled {
	s := &settled{logs: logs, seen: make([]int, len(logs))}
	for i, log := range logs {
		s.seen[i] = log.Count(isType[*events.Connected])
	}
	return s
}

// wait blocks until every client connected again since the last wait.
func (s *settled) wait(t *testing.T, ctx context.Context) {
	t.Helper()
	for i, log := range s.logs {
		_, err := log.WaitEvent(ctx, func(any) bool { return log.Count(isType[*events.Connected]) > s.seen[i] })
		if err != nil {
			t.Fatalf("client %d did not reconnect: %v", i, err)
		}
		s.seen[i] = log.Count(isType[*events.Connected])
	}
}

func TestControlAPIFaults(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Dee")
	eve := newContact(t, ctx, srv, "Eve")
	dee := pairByQR(t, ctx, srv, acct)
	// The control API on the simulator's own port, as cmd/wasim serves it.
	api := &controlClient{t: t, base: "http://" + srv.Addr(), hc: &http.Client{}}
	phone := acct.JID().User

	api.expect(http.StatusNotFound, "no such account", "POST", "/_wasim/faults/drop", `{"phone": "4930999999"}`, nil)
	api.expect(http.StatusBadRequest, `missing field "phone"`, "POST", "/_wasim/faults/drop", `{}`, nil)
	api.expect(http.StatusBadRequest, `missing field "on" or "seconds"`, "POST", "/_wasim/faults/outage", `{}`, nil)
	api.expect(http.StatusBadRequest, "not both", "POST", "/_wasim/faults/outage", `{"on": true, "seconds": 1}`, nil)
	api.expect(http.StatusBadRequest, "between", "POST", "/_wasim/faults/outage", `{"seconds": -1}`, nil)
	api.expect(http.StatusBadRequest, "between", "POST", "/_wasim/faults/delay", `{}`, nil)
	api.expect(http.StatusBadRequest, "between", "POST", "/_wasim/faults/delay", `{"ms": -5}`, nil)
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/delay", `{"ms": 0}`, nil)
	// Every route's body: one JSON object, white space after it, at most maxControlBody bytes.
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/delay", "{\"ms\": 0}\n", nil)
	api.expect(http.StatusBadRequest, "more than one JSON value", "POST", "/_wasim/faults/delay", `{"ms": 0} {"ms": 5}`, nil)
	api.expect(http.StatusBadRequest, "malformed JSON body", "POST", "/_wasim/faults/delay", `{"ms": 0} x`, nil)
	api.expect(http.StatusRequestEntityTooLarge, "larger than", "POST", "/_wasim/faults/delay", strings.Repeat(" ", maxControlBody)+`{"ms": 0}`, nil)

	accountClients := newSettled(dee.EventLog, acct.Phone().EventLog)
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/drop", mustJSON(map[string]string{"phone": phone}), nil)
	accountClients.wait(t, ctx)

	all := newSettled(dee.EventLog, acct.Phone().EventLog, eve.EventLog)
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/outage", `{"on": true}`, nil)
	// During the outage the control API keeps answering and reports everyone offline.
	var a apiAccount
	api.expect(http.StatusOK, "", "GET", "/_wasim/accounts/"+phone, "", &a)
	for _, d := range a.Devices {
		if d.Online {
			t.Fatalf("device %d online during an outage", d.ID)
		}
	}
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/outage", `{"on": false}`, nil)
	all.wait(t, ctx)
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/outage", `{"seconds": 0.2}`, nil)
	all.wait(t, ctx)

	// Restart through the port it restarts: the answer comes once it listens again.
	var restarted map[string]any
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/restart", "", &restarted)
	if restarted["restarted"] != true || restarted["addr"] != srv.Addr() {
		t.Fatalf("restart answered %v", restarted)
	}
	all.wait(t, ctx)
	if _, err := eve.SendText(ctx, acct.JID(), "after restart"); err != nil {
		t.Fatalf("send after restart failed: %v", err)
	}
	if _, err := dee.WaitMessage(ctx, textIs("after restart")); err != nil {
		t.Fatalf("message after restart never arrived: %v", err)
	}
	api.expect(http.StatusOK, "", "GET", "/_wasim/info", "", nil)
}
