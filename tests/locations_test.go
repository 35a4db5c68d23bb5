package tests

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestLocations: a WhatsApp location shows as an m.location with its geo: URI and a readable
// fallback, a live location as the sender's location plus a notice that updates stay on the phone,
// and a Matrix location (as clients send a dropped pin) reaches WhatsApp at the same coordinates.
func TestLocations(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340041")
	erin, erinGhost := newContact(t, ctx, env, "4917600000041", "Erin")

	_, err := erin.Send(ctx, alice.acct.JID(), &waE2E.Message{LocationMessage: &waE2E.LocationMessage{
		DegreesLatitude: proto.Float64(52.516275), DegreesLongitude: proto.Float64(13.377704),
		Name: proto.String("Brandenburg Gate"), Address: proto.String("Pariser Platz, Berlin"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, erinGhost)
	pin := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Sender == erinGhost && evt.Content.AsMessage().MsgType == event.MsgLocation
	})
	if c := pin.Content.AsMessage(); c.GeoURI != "geo:52.516275,13.377704" || c.Body != "Location: Brandenburg Gate, Pariser Platz, Berlin\ngeo:52.516275,13.377704" {
		t.Errorf("Matrix shows location %q at %q", c.Body, c.GeoURI)
	}
	if asset, _ := pin.Content.Raw["org.matrix.msc3488.asset"].(map[string]any); asset["type"] != "m.pin" {
		t.Errorf("location asset %v", pin.Content.Raw["org.matrix.msc3488.asset"])
	}

	if _, err = erin.Send(ctx, alice.acct.JID(), &waE2E.Message{LiveLocationMessage: &waE2E.LiveLocationMessage{
		DegreesLatitude: proto.Float64(48.8584), DegreesLongitude: proto.Float64(2.2945), AccuracyInMeters: proto.Uint32(15),
		Caption: proto.String("on my way"), SequenceNumber: proto.Int64(1),
	}}); err != nil {
		t.Fatal(err)
	}
	live := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Sender == erinGhost && evt.Content.AsMessage().GeoURI == "geo:48.8584,2.2945;u=15"
	})
	if asset, _ := live.Content.Raw["org.matrix.msc3488.asset"].(map[string]any); asset["type"] != "m.self" {
		t.Errorf("live location asset %v", live.Content.Raw["org.matrix.msc3488.asset"])
	}
	env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		c := evt.Content.AsMessage()
		return evt.Sender == erinGhost && c.MsgType == event.MsgNotice && c.Body == "Started sharing their live location. Updates are shown only in WhatsApp on the phone."
	})

	if _, err = alice.client.SendMessageEvent(ctx, dm, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgLocation, Body: "Location geo:51.5008,-0.1247;u=35 at 2024-05-01T10:00:00Z", GeoURI: "geo:51.5008,-0.1247;u=35",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err = alice.client.SendMessageEvent(ctx, dm, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgLocation, Body: "Cafe Einstein", GeoURI: "geo:52.50412,13.35583",
	}); err != nil {
		t.Fatal(err)
	}
	got := map[string]*waE2E.LocationMessage{}
	for len(got) < 2 {
		msg, err := erin.WaitMessage(ctx, func(m *events.Message) bool {
			return wasim.MessageKind(m) == wasim.KindLocation && got[m.Info.ID] == nil
		})
		if err != nil {
			t.Fatalf("WhatsApp did not receive both locations: %v", err)
		}
		got[msg.Info.ID] = msg.Message.GetLocationMessage()
	}
	var sawPin, sawCafe bool
	for _, loc := range got {
		switch {
		case loc.GetDegreesLatitude() == 51.5008 && loc.GetDegreesLongitude() == -0.1247 && loc.GetAccuracyInMeters() == 35 && loc.GetName() == "":
			sawPin = true
		case loc.GetDegreesLatitude() == 52.50412 && loc.GetDegreesLongitude() == 13.35583 && loc.GetName() == "Cafe Einstein":
			sawCafe = true
		}
	}
	if !sawPin || !sawCafe {
		t.Errorf("WhatsApp received %v", got)
	}
}
