package wasim

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestDeliverRepeats: a message sent twice under one ID (each copy encrypted on its own) reaches
// a whatsmeow recipient once while repeats are dropped (the default) and twice once the server
// delivers them (whatsmeow recognises a repeat only by its ciphertext), also when a delivery delay
// holds the second copy back while the first one's receipt comes in; the control API switches.
func TestDeliverRepeats(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Kim")
	lea := newContact(t, ctx, srv, "Lea")
	kim := pairByQR(t, ctx, srv, acct)
	// Set through the control API, as cmd/wasim serves it.
	api := &controlClient{t: t, base: "http://" + srv.Addr(), hc: &http.Client{}}
	api.expect(http.StatusBadRequest, `missing field "on"`, "POST", "/_wasim/faults/repeats", `{}`, nil)

	for _, c := range []struct {
		repeats *bool // nil: the default
		delay   time.Duration
		text    string
		want    int
	}{
		{nil, 0, "repeat by default", 1},
		{new(true), 0, "delivered repeat", 2},
		{new(true), 200 * time.Millisecond, "delayed repeat", 2},
		{new(false), 0, "dropped repeat", 1},
	} {
		if c.repeats != nil {
			api.expect(http.StatusOK, "", "POST", "/_wasim/faults/repeats", fmt.Sprintf(`{"on": %v}`, *c.repeats), nil)
		}
		srv.SetDeliveryDelay(c.delay)
		id := lea.Client().GenerateMessageID()
		for range 2 {
			if err := lea.SendWithID(ctx, acct.JID(), textMessage(c.text), id); err != nil {
				t.Fatalf("send of %q failed: %v", c.text, err)
			}
			// Under the delay, the first copy is written and answered while the second waits.
			time.Sleep(c.delay / 2)
		}
		// A message after the repeat: once it arrived, so did the repeat, if it was delivered.
		if _, err := lea.SendText(ctx, acct.JID(), c.text+" done"); err != nil {
			t.Fatal(err)
		}
		if _, err := kim.WaitMessage(ctx, textIs(c.text+" done")); err != nil {
			t.Fatalf("message after %q never arrived: %v", c.text, err)
		}
		if n := countText(kim.EventLog, c.text); n != c.want {
			t.Errorf("%s: arrived %d times, want %d", c.text, n, c.want)
		}
	}
}
