package wasim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// waitPrivacyToken polls the companion's store until it holds a privacy token from issuer.
func waitPrivacyToken(t *testing.T, ctx context.Context, c *companion, issuer types.JID) {
	t.Helper()
	for {
		tok, err := c.cli.Store.PrivacyTokens.GetPrivacyToken(ctx, issuer)
		if err == nil && tok != nil && len(tok.Token) > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no privacy token from %s arrived: %v", issuer, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkFirstMessageRefused sends from the companion to a restricted contact, expects 463, makes
// the contact trust the companion's account with issue, and expects the next message to arrive.
func checkFirstMessageRefused(t *testing.T, ctx context.Context, c *companion, contact *Contact, issue func()) {
	t.Helper()
	_, err := c.cli.SendMessage(ctx, contact.JID(), textMessage("hello stranger"))
	if !errors.Is(err, whatsmeow.ErrServerReturnedError) || !strings.HasSuffix(err.Error(), " 463") {
		t.Fatalf("first message to a restricted account: got %v, want server error 463", err)
	}
	if contact.Count(isType[*events.Message]) != 0 {
		t.Fatalf("the refused message was delivered")
	}
	issue()
	waitPrivacyToken(t, ctx, c, contact.LID())
	if _, err = c.cli.SendMessage(ctx, contact.JID(), textMessage("hello again")); err != nil {
		t.Fatalf("message with a privacy token failed: %v", err)
	}
	if _, err = contact.WaitMessage(ctx, func(m *events.Message) bool { return MessageBody(m) == "hello again" }); err != nil {
		t.Fatalf("the message with a token did not arrive: %v", err)
	}
	// Once they talked, no token is needed any more, in either direction.
	if _, err = contact.SendText(ctx, c.cli.Store.GetJID().ToNonAD(), "hi back"); err != nil {
		t.Fatalf("reply failed: %v", err)
	}
}

func TestPrivacyTokenRefusal(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	user, err := srv.CreateAccount(ctx, newPhoneNumber(), "User")
	if err != nil {
		t.Fatal(err)
	}
	contact, err := srv.CreateContact(ctx, newPhoneNumber(), "Stranger")
	if err != nil {
		t.Fatal(err)
	}
	c := pairByQR(t, ctx, srv, user)
	contact.Account().SetRequirePrivacyToken(true)
	checkFirstMessageRefused(t, ctx, c, contact, func() {
		if err := contact.Account().IssuePrivacyToken(ctx, user); err != nil {
			t.Fatal(err)
		}
	})
	// Without the restriction anyone may write first.
	other, err := srv.CreateContact(ctx, newPhoneNumber(), "Open")
	if err != nil {
		t.Fatal(err)
	}
	if _, err = c.cli.SendMessage(ctx, other.JID(), textMessage("hi")); err != nil {
		t.Fatalf("message to an unrestricted account failed: %v", err)
	}
}

func TestPrivacyTokenRefusalControlAPI(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	api := newControlClient(t, srv)
	user, err := srv.CreateAccount(ctx, newPhoneNumber(), "User")
	if err != nil {
		t.Fatal(err)
	}
	contact, err := srv.CreateContact(ctx, newPhoneNumber(), "Stranger")
	if err != nil {
		t.Fatal(err)
	}
	c := pairByQR(t, ctx, srv, user)
	api.expect(http.StatusBadRequest, "require_token", "POST", "/_wasim/accounts/"+contact.JID().User+"/privacy", `{}`, nil)
	api.expect(http.StatusNotFound, "no such account", "POST", "/_wasim/accounts/4900000000999/privacy", `{"require_token": true}`, nil)
	api.expect(http.StatusOK, "", "POST", "/_wasim/accounts/"+contact.JID().User+"/privacy", `{"require_token": true}`, nil)
	checkFirstMessageRefused(t, ctx, c, contact, func() {
		api.expect(http.StatusCreated, "", "POST", "/_wasim/privacy-tokens",
			mustJSON(map[string]string{"from": contact.JID().User, "to": user.JID().User}), nil)
	})
}

func TestGroupQueryRateLimit(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	api := newControlClient(t, srv)
	user, err := srv.CreateAccount(ctx, newPhoneNumber(), "User")
	if err != nil {
		t.Fatal(err)
	}
	member, err := srv.CreateContact(ctx, newPhoneNumber(), "Member")
	if err != nil {
		t.Fatal(err)
	}
	c := pairByQR(t, ctx, srv, user)
	gid, err := srv.CreateGroup(ctx, member.Account(), "Limited", user)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetGroupQueryLimit(2, time.Hour)
	if _, err = c.cli.GetGroupInfo(ctx, gid); err != nil {
		t.Fatalf("first group query failed: %v", err)
	}
	if _, err = c.cli.GetJoinedGroups(ctx); err != nil {
		t.Fatalf("second group query failed: %v", err)
	}
	if _, err = c.cli.GetGroupInfo(ctx, gid); !errors.Is(err, whatsmeow.ErrIQRateOverLimit) {
		t.Fatalf("third group info query: got %v, want rate-overlimit", err)
	}
	if _, err = c.cli.GetJoinedGroups(ctx); !errors.Is(err, whatsmeow.ErrIQRateOverLimit) {
		t.Fatalf("joined groups past the limit: got %v, want rate-overlimit", err)
	}
	// Another account has its own budget.
	if _, err = member.Client().GetGroupInfo(ctx, gid); err != nil {
		t.Fatalf("another account's query failed: %v", err)
	}
	// Through the control API: a short window, after which queries pass again.
	api.expect(http.StatusBadRequest, "limit", "POST", "/_wasim/faults/group-limit", `{"limit": -1}`, nil)
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/group-limit", `{"limit": 1, "seconds": 0.3}`, nil)
	if _, err = c.cli.GetGroupInfo(ctx, gid); err != nil {
		t.Fatalf("first query in a new limit failed: %v", err)
	}
	if _, err = c.cli.GetGroupInfo(ctx, gid); !errors.Is(err, whatsmeow.ErrIQRateOverLimit) {
		t.Fatalf("second query: got %v, want rate-overlimit", err)
	}
	for {
		if _, err = c.cli.GetGroupInfo(ctx, gid); err == nil {
			break
		} else if !errors.Is(err, whatsmeow.ErrIQRateOverLimit) || ctx.Err() != nil {
			t.Fatalf("query after the window: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/group-limit", `{"limit": 0}`, nil)
	for i := 0; i < 3; i++ {
		if _, err = c.cli.GetGroupInfo(ctx, gid); err != nil {
			t.Fatalf("query without a limit failed: %v", err)
		}
	}
}

func TestIsOnWhatsAppUnknownNumber(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	user, err := srv.CreateAccount(ctx, newPhoneNumber(), "User")
	if err != nil {
		t.Fatal(err)
	}
	known, err := srv.CreateContact(ctx, newPhoneNumber(), "Known")
	if err != nil {
		t.Fatal(err)
	}
	c := pairByQR(t, ctx, srv, user)
	unknown := "4900" + known.JID().User[4:] + "9"
	resp, err := c.cli.IsOnWhatsApp(ctx, []string{"+" + known.JID().User, "+" + unknown})
	if err != nil {
		t.Fatalf("IsOnWhatsApp failed: %v", err)
	}
	got := map[string]types.IsOnWhatsAppResponse{}
	for _, r := range resp {
		got[r.Query] = r
	}
	if r := got["+"+known.JID().User]; !r.IsIn || r.PhoneNumber != known.JID() {
		t.Fatalf("known number: got %+v, want on WhatsApp as %s", r, known.JID())
	}
	if r, ok := got["+"+unknown]; !ok || r.IsIn {
		t.Fatalf("unknown number: got %+v (answered %v), want an answer saying not on WhatsApp", r, ok)
	}
}

// startPasskeyPairing connects an unpaired companion to an account requiring the passkey step, has
// the phone scan the QR code and answers the passkey request with answer's assertion.
func startPasskeyPairing(t *testing.T, ctx context.Context, srv *Server, acct *Account) (*companion, *events.PairPasskeyRequest) {
	t.Helper()
	c := newCompanion(t, srv, "")
	if err := c.cli.Connect(); err != nil {
		t.Fatalf("failed to connect companion: %v", err)
	}
	evt, err := c.WaitEvent(ctx, isType[*events.QR])
	if err != nil {
		t.Fatalf("no QR code: %v", err)
	}
	if err = acct.ScanQR(ctx, evt.(*events.QR).Codes[0]); err != nil {
		t.Fatalf("phone failed to scan QR: %v", err)
	}
	req, err := c.WaitEvent(ctx, isType[*events.PairPasskeyRequest])
	if err != nil {
		t.Fatalf("no passkey request: %v", err)
	}
	if c.Count(isType[*events.PairSuccess]) != 0 {
		t.Fatalf("paired before the passkey step")
	}
	return c, req.(*events.PairPasskeyRequest)
}

func TestPasskeyPairing(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct, err := srv.CreateAccount(ctx, newPhoneNumber(), "User")
	if err != nil {
		t.Fatal(err)
	}
	if err = acct.SetRequirePasskey(true); err != nil {
		t.Fatal(err)
	}
	// A wrong assertion is refused and pairs nothing.
	bad, req := startPasskeyPairing(t, ctx, srv, acct)
	resp, err := acct.AssertPasskey(req.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	resp.Response.Signature[len(resp.Response.Signature)-1] ^= 1
	if err = bad.cli.SendPasskeyResponse(ctx, resp); !errors.Is(err, whatsmeow.ErrIQNotAuthorized) {
		t.Fatalf("tampered assertion: got %v, want not-authorized", err)
	}
	bad.cli.Disconnect()

	c, req := startPasskeyPairing(t, ctx, srv, acct)
	if req.PublicKey.RelyingPartID != "whatsapp.com" || len(req.PublicKey.Challenge) == 0 {
		t.Fatalf("passkey request options %+v", req.PublicKey)
	}
	resp, err = acct.AssertPasskey(req.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err = c.cli.SendPasskeyResponse(ctx, resp); err != nil {
		t.Fatalf("SendPasskeyResponse failed: %v", err)
	}
	confirm, err := c.WaitEvent(ctx, isType[*events.PairPasskeyConfirmation])
	if err != nil {
		t.Fatalf("no passkey confirmation: %v", err)
	}
	if !confirm.(*events.PairPasskeyConfirmation).SkipHandoffUX {
		t.Fatalf("a prompt answer carries the handoff proof, so the code need not be shown")
	}
	if err = c.cli.SendPasskeyConfirmation(ctx); err != nil {
		t.Fatalf("SendPasskeyConfirmation failed: %v", err)
	}
	c.waitConnected(t, ctx, 0)
	waitLinkSettled(t, ctx, c, true)
	if got := c.cli.Store.GetJID().ToNonAD(); got != acct.JID() {
		t.Fatalf("paired as %s, want %s", got, acct.JID())
	}
	if len(acct.Devices()) != 2 {
		t.Fatalf("devices %v, want the phone and one companion", acct.Devices())
	}
}

func TestPasskeyPairingControlAPI(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	api := newControlClient(t, srv)
	acct, err := srv.CreateAccount(ctx, newPhoneNumber(), "User")
	if err != nil {
		t.Fatal(err)
	}
	phone := acct.JID().User
	api.expect(http.StatusOK, "", "POST", "/_wasim/accounts/"+phone+"/passkey", `{"required": true}`, nil)
	// The QR channel, as the bridge uses it: the confirmation is sent automatically.
	c := newCompanion(t, srv, "")
	items, err := c.cli.GetQRChannel(context.WithoutCancel(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if err = c.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	for item := range items {
		switch item.Event {
		case whatsmeow.QRChannelEventCode:
			api.expect(http.StatusOK, "", "POST", "/_wasim/qr/scan", mustJSON(map[string]string{"phone": phone, "qr": item.Code}), nil)
		case whatsmeow.QRChannelEventPasskeyRequest:
			var assertion types.WebAuthnResponse
			api.expect(http.StatusBadRequest, "options", "POST", "/_wasim/passkey/assert", mustJSON(map[string]any{"phone": phone}), nil)
			api.expect(http.StatusOK, "", "POST", "/_wasim/passkey/assert",
				mustJSON(map[string]any{"phone": phone, "options": item.PasskeyRequest.PublicKey}), &assertion)
			if err = c.cli.SendPasskeyResponse(ctx, &assertion); err != nil {
				t.Fatalf("SendPasskeyResponse failed: %v", err)
			}
		case whatsmeow.QRChannelSuccess.Event:
			c.waitConnected(t, ctx, 0)
			waitLinkSettled(t, ctx, c, true)
			return
		default:
			t.Fatalf("unexpected QR channel item %s: %v", item.Event, item.Error)
		}
	}
	t.Fatal(fmt.Errorf("the QR channel closed before pairing succeeded"))
}
