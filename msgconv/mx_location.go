package msgconv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
)

// ParseGeoURI reads the coordinates (degrees) and the uncertainty (metres, 0 when not given) of a
// geo: URI as RFC 5870 writes it: "geo:lat,long[,alt][;u=uncertainty][;other=params]". It fails
// on anything else, and on coordinates outside -90..90 and -180..180.
func ParseGeoURI(uri string) (lat, long float64, accuracy uint32, err error) {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(uri)), "geo:")
	if !ok {
		return 0, 0, 0, fmt.Errorf("%q is not a geo: URI", uri)
	}
	params := strings.Split(rest, ";")
	coords := strings.Split(params[0], ",")
	if len(coords) < 2 || len(coords) > 3 {
		return 0, 0, 0, fmt.Errorf("geo: URI %q does not have two or three coordinates", uri)
	}
	if lat, err = strconv.ParseFloat(coords[0], 64); err != nil || lat < -90 || lat > 90 {
		return 0, 0, 0, fmt.Errorf("geo: URI %q has an invalid latitude", uri)
	}
	if long, err = strconv.ParseFloat(coords[1], 64); err != nil || long < -180 || long > 180 {
		return 0, 0, 0, fmt.Errorf("geo: URI %q has an invalid longitude", uri)
	}
	for _, param := range params[1:] {
		if value, ok := strings.CutPrefix(param, "u="); ok {
			if u, err := strconv.ParseFloat(value, 64); err == nil && u > 0 && u < 1e9 {
				accuracy = uint32(u + 0.5)
			}
		}
	}
	return lat, long, accuracy, nil
}

// ConvertLocation builds the WhatsApp location of a Matrix m.location: the coordinates of its
// geo_uri, and its body as the place's name unless the body is only an automatic description
// (one that repeats the geo: URI, as Matrix clients write for a dropped pin or one's own
// location), with the quoted message of a reply. A missing or invalid geo_uri fails with a
// PermanentError.
func (c *FromMatrix) ConvertLocation(ctx context.Context, content *event.MessageEventContent) (*waE2E.Message, error) {
	if content.GeoURI == "" {
		return nil, permanent(errors.New("cannot send the location to WhatsApp: it has no geo_uri"))
	}
	lat, long, accuracy, err := ParseGeoURI(content.GeoURI)
	if err != nil {
		return nil, permanent(fmt.Errorf("cannot send the location to WhatsApp: %w", err))
	}
	loc := &waE2E.LocationMessage{DegreesLatitude: proto.Float64(lat), DegreesLongitude: proto.Float64(long)}
	if accuracy > 0 {
		loc.AccuracyInMeters = proto.Uint32(accuracy)
	}
	if name, _, _ := strings.Cut(strings.TrimSpace(content.Body), "\n"); name != "" && !strings.Contains(strings.ToLower(content.Body), "geo:") {
		loc.Name = proto.String(name)
	}
	_, ctxInfo, err := c.caption(ctx, &event.MessageEventContent{RelatesTo: content.RelatesTo, Mentions: content.Mentions})
	if err != nil {
		return nil, err
	}
	loc.ContextInfo = ctxInfo
	return &waE2E.Message{LocationMessage: loc}, nil
}
