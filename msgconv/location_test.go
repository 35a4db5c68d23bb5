package msgconv

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func TestLocationFromWhatsApp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		msg     *waE2E.Message
		body    string
		geo     string
		desc    string
		asset   string
		notice  bool // a second part says that live updates stay on the phone
		replyTo id.EventID
	}{
		{name: "named place", msg: &waE2E.Message{LocationMessage: &waE2E.LocationMessage{
			Name: proto.String("Brandenburg Gate"), Address: proto.String("Pariser Platz, Berlin"),
			DegreesLatitude: proto.Float64(52.516275), DegreesLongitude: proto.Float64(13.377704)}},
			body: "Location: Brandenburg Gate, Pariser Platz, Berlin\ngeo:52.516275,13.377704", geo: "geo:52.516275,13.377704",
			desc: "Brandenburg Gate, Pariser Platz, Berlin", asset: assetPin},
		{name: "pin without name, replying", msg: &waE2E.Message{LocationMessage: &waE2E.LocationMessage{
			DegreesLatitude: proto.Float64(-33.5), DegreesLongitude: proto.Float64(151), ContextInfo: replyInfo(quotedWAID)}},
			body: "Location: geo:-33.5,151", geo: "geo:-33.5,151", asset: assetPin, replyTo: quotedEventID},
		{name: "with accuracy", msg: &waE2E.Message{LocationMessage: &waE2E.LocationMessage{
			DegreesLatitude: proto.Float64(0), DegreesLongitude: proto.Float64(-0.1275), AccuracyInMeters: proto.Uint32(20)}},
			body: "Location: geo:0,-0.1275;u=20", geo: "geo:0,-0.1275;u=20", asset: assetPin},
		{name: "live location", msg: &waE2E.Message{LiveLocationMessage: &waE2E.LiveLocationMessage{
			DegreesLatitude: proto.Float64(48.8584), DegreesLongitude: proto.Float64(2.2945), Caption: proto.String("on my way")}},
			body: "Live location: on my way\ngeo:48.8584,2.2945", geo: "geo:48.8584,2.2945", desc: "on my way", asset: assetSelf, notice: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conv := &FromWhatsApp{QuotedEvent: fakeQuotedEvent}
			converted, err := conv.Convert(context.Background(), tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{false: 1, true: 2}[tt.notice]; len(converted.Parts) != want {
				t.Fatalf("%d parts, want %d", len(converted.Parts), want)
			}
			raw, err := json.Marshal(converted.Parts[0].EventContent())
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				MsgType  string `json:"msgtype"`
				Body     string `json:"body"`
				GeoURI   string `json:"geo_uri"`
				Text     string `json:"org.matrix.msc1767.text"`
				Location struct {
					URI         string `json:"uri"`
					Description string `json:"description"`
				} `json:"org.matrix.msc3488.location"`
				Asset struct {
					Type string `json:"type"`
				} `json:"org.matrix.msc3488.asset"`
				RelatesTo *event.RelatesTo `json:"m.relates_to"`
			}
			if err = json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			if got.MsgType != "m.location" || got.Body != tt.body || got.Text != tt.body || got.GeoURI != tt.geo ||
				got.Location.URI != tt.geo || got.Location.Description != tt.desc || got.Asset.Type != tt.asset {
				t.Errorf("content %s", raw)
			}
			if got.RelatesTo.GetReplyTo() != tt.replyTo {
				t.Errorf("reply to %q, want %q", got.RelatesTo.GetReplyTo(), tt.replyTo)
			}
			if tt.notice {
				if c := converted.Parts[1].Content; c.MsgType != event.MsgNotice || c.Body != liveLocNotice {
					t.Errorf("second part %s %q", c.MsgType, c.Body)
				}
			}
		})
	}
}

func TestLocationFromMatrix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		content  *event.MessageEventContent
		lat      float64
		long     float64
		accuracy uint32
		place    string
		quoted   string
		err      string
	}{
		{name: "named place", content: &event.MessageEventContent{MsgType: event.MsgLocation, Body: "Cafe Einstein", GeoURI: "geo:52.50412,13.35583"},
			lat: 52.50412, long: 13.35583, place: "Cafe Einstein"},
		{name: "dropped pin", content: &event.MessageEventContent{MsgType: event.MsgLocation,
			Body: "Location geo:51.5008,0.1247;u=35 at 2024-05-01T10:00:00Z", GeoURI: "geo:51.5008,0.1247;u=35"},
			lat: 51.5008, long: 0.1247, accuracy: 35},
		{name: "altitude and crs", content: &event.MessageEventContent{MsgType: event.MsgLocation, Body: "Summit", GeoURI: "GEO:-8.1,-70.25,4500;crs=wgs84"},
			lat: -8.1, long: -70.25, place: "Summit"},
		{name: "reply", content: replyTo(&event.MessageEventContent{MsgType: event.MsgLocation, Body: "here", GeoURI: "geo:1,2"}, quotedEventID),
			lat: 1, long: 2, place: "here", quoted: quotedWAID},
		{name: "no geo_uri", content: &event.MessageEventContent{MsgType: event.MsgLocation, Body: "here"},
			err: "cannot send the location to WhatsApp: it has no geo_uri"},
		{name: "not a geo URI", content: &event.MessageEventContent{MsgType: event.MsgLocation, Body: "here", GeoURI: "https://example.org"},
			err: `cannot send the location to WhatsApp: "https://example.org" is not a geo: URI`},
		{name: "latitude out of range", content: &event.MessageEventContent{MsgType: event.MsgLocation, Body: "here", GeoURI: "geo:91,0"},
			err: `cannot send the location to WhatsApp: geo: URI "geo:91,0" has an invalid latitude`},
		{name: "one coordinate", content: &event.MessageEventContent{MsgType: event.MsgLocation, Body: "here", GeoURI: "geo:1"},
			err: `cannot send the location to WhatsApp: geo: URI "geo:1" does not have two or three coordinates`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conv := &FromMatrix{QuotedMessage: fakeQuotedMessage}
			msg, err := conv.Convert(context.Background(), event.EventMessage, tt.content)
			if tt.err != "" {
				var perm PermanentError
				if !errors.As(err, &perm) || err.Error() != tt.err {
					t.Fatalf("err %v, want permanent %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			loc := msg.GetLocationMessage()
			if loc.GetDegreesLatitude() != tt.lat || loc.GetDegreesLongitude() != tt.long || loc.GetAccuracyInMeters() != tt.accuracy || loc.GetName() != tt.place {
				t.Errorf("location %v", loc)
			}
			if got := loc.GetContextInfo().GetStanzaID(); got != tt.quoted {
				t.Errorf("quotes %q, want %q", got, tt.quoted)
			}
		})
	}
}

// TestLocationRoundTrip: a location sent from Matrix shows in Matrix again at the same place.
func TestLocationRoundTrip(t *testing.T) {
	t.Parallel()
	for _, geo := range []string{"geo:52.516275,13.377704", "geo:-33.8568,151.2153;u=12", "geo:0,0"} {
		msg, err := (&FromMatrix{}).Convert(context.Background(), event.EventMessage, &event.MessageEventContent{MsgType: event.MsgLocation, Body: "x", GeoURI: geo})
		if err != nil {
			t.Fatal(err)
		}
		back, err := (&FromWhatsApp{}).Convert(context.Background(), msg)
		if err != nil {
			t.Fatal(err)
		}
		if got := back.Parts[0].Content.GeoURI; got != geo {
			t.Errorf("%s came back as %s", geo, got)
		}
	}
}
