package msgconv

import (
	"strconv"
	"strings"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"maunium.net/go/mautrix/event"
)

// Locations follow Matrix's m.location with a geo: URI (RFC 5870) and the MSC3488 keys that
// Matrix clients draw maps from: the location, its asset (a pinned place or the sender themself)
// and the fallback text.
const (
	locationKey   = "org.matrix.msc3488.location"
	assetKey      = "org.matrix.msc3488.asset"
	assetPin      = "m.pin"
	assetSelf     = "m.self"
	liveLocNotice = "Started sharing their live location. Updates are shown only in WhatsApp on the phone."
)

// GeoURI formats coordinates as a geo: URI, with the uncertainty in metres when it is known (0:
// unknown). Coordinates have at most 6 decimals (about 10 cm), without trailing zeros.
func GeoURI(lat, long float64, accuracy uint32) string {
	uri := "geo:" + coordinate(lat) + "," + coordinate(long)
	if accuracy > 0 {
		uri += ";u=" + strconv.FormatUint(uint64(accuracy), 10)
	}
	return uri
}

func coordinate(v float64) string {
	s := strconv.FormatFloat(v, 'f', 6, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// locationPart builds an m.location part: body is the readable fallback (the description's lines,
// then the geo: URI), the MSC3488 keys say what to draw.
func locationPart(label string, descriptionLines []string, geoURI, asset string) Part {
	var lines []string
	for _, line := range descriptionLines {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	description := strings.Join(lines, ", ")
	body := label + ": " + geoURI
	if description != "" {
		body = label + ": " + description + "\n" + geoURI
	}
	location := map[string]any{"uri": geoURI}
	if description != "" {
		location["description"] = description
	}
	return Part{
		Type:    event.EventMessage,
		Content: &event.MessageEventContent{MsgType: event.MsgLocation, Body: body, GeoURI: geoURI},
		Extra: map[string]any{
			locationKey: location,
			assetKey:    map[string]any{"type": asset},
			textKey:     body,
		},
	}
}

// convertLocation shows a pinned location as an m.location: the place's name, address and
// comment, and its coordinates.
func convertLocation(loc *waE2E.LocationMessage) Part {
	geo := GeoURI(loc.GetDegreesLatitude(), loc.GetDegreesLongitude(), loc.GetAccuracyInMeters())
	label, asset := "Location", assetPin
	if loc.GetIsLive() {
		label, asset = "Live location", assetSelf
	}
	return locationPart(label, []string{loc.GetName(), loc.GetAddress(), loc.GetComment(), loc.GetURL()}, geo, asset)
}

// convertLiveLocation shows the start of a live location share: where the sender is now, as an
// m.location of the sender themself, and a notice that the updates stay on the phone (a linked
// device gets no updates of a live location).
func convertLiveLocation(loc *waE2E.LiveLocationMessage) []Part {
	geo := GeoURI(loc.GetDegreesLatitude(), loc.GetDegreesLongitude(), loc.GetAccuracyInMeters())
	notice := messagePart(&event.MessageEventContent{MsgType: event.MsgNotice, Body: liveLocNotice})
	return []Part{locationPart("Live location", []string{loc.GetCaption()}, geo, assetSelf), notice}
}
