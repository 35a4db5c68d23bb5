package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// An event from a Matrix user whose content does not fit its type (e.g. an m.relates_to that is a
// list) is not dropped silently: in a portal room the sender is told, and a message is bridged
// without the fields that do not parse when what is left still makes a message (its body).

// essentialFields are the content fields a message cannot be bridged without.
var essentialFields = []string{"msgtype", "body"}

// salvagedTypes are the event types the bridge sends on to WhatsApp, the only ones worth salvaging.
var salvagedTypes = []event.Type{event.EventMessage, event.EventSticker, event.EventReaction, event.EventRedaction,
	event.EventUnstablePollStart, event.EventUnstablePollResponse}

// handleMalformedEvent handles evt, whose content failed to parse with parseErr. It returns nil when
// the event was handled (bridged without its broken fields, or refused with a notice, or ignored);
// an error means "retry later", as for any event.
func (br *Bridge) handleMalformedEvent(ctx context.Context, evt *event.Event, parseErr error) error {
	log := zerolog.Ctx(ctx)
	if errors.Is(parseErr, event.ErrUnsupportedContentType) || !slices.Contains(salvagedTypes, evt.Type) || br.isBridgeUser(evt.Sender) {
		log.Debug().Err(parseErr).Str("type", evt.Type.Type).Msg("Ignoring event that cannot be parsed")
		return nil
	}
	if p, err := br.portals.GetByMXID(ctx, evt.RoomID); err != nil {
		return err
	} else if p == nil {
		log.Debug().Err(parseErr).Msg("Ignoring malformed event outside portals")
		return nil
	}
	log.Warn().Err(parseErr).Msg("Matrix event has malformed content")
	reason := parseReason(parseErr)
	content, dropped := salvageContent(evt.Type, evt.Content.Raw)
	if content == nil {
		br.sendBotNoticeTxn(ctx, evt.RoomID, "malformed-"+evt.ID.String(), fmt.Sprintf(
			"Your message was not bridged to WhatsApp: its content is malformed (%s).", reason))
		return nil
	}
	br.sendBotNoticeTxn(ctx, evt.RoomID, "malformed-"+evt.ID.String(), fmt.Sprintf(
		"Part of your message is malformed (%s), so it was bridged to WhatsApp without %s.", reason, fieldList(dropped)))
	evt.Content = *content
	return br.handleMatrixEvent(ctx, evt)
}

// salvageContent returns the content of a message or sticker, raw, without the fewest top-level
// fields that keep it from parsing as evtType (one field if removing one suffices, else every
// field but the essential ones), parsed, and the names of the fields removed. It returns nil when
// even that does not parse, and for other event types.
func salvageContent(evtType event.Type, raw map[string]any) (*event.Content, []string) {
	if raw == nil || (evtType != event.EventMessage && evtType != event.EventSticker) {
		// A reaction or redaction is nothing without the fields that name its target.
		return nil, nil
	}
	var optional []string
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		if !slices.Contains(essentialFields, key) {
			optional = append(optional, key)
		}
	}
	for _, key := range optional {
		if content := parseWithout(evtType, raw, key); content != nil {
			return content, []string{key}
		}
	}
	if content := parseWithout(evtType, raw, optional...); content != nil && len(optional) > 0 {
		return content, optional
	}
	return nil, nil
}

// parseWithout parses raw without the given fields as evtType's content, or returns nil.
func parseWithout(evtType event.Type, raw map[string]any, without ...string) *event.Content {
	stripped := maps.Clone(raw)
	for _, key := range without {
		delete(stripped, key)
	}
	data, err := json.Marshal(stripped)
	if err != nil {
		return nil
	}
	content := &event.Content{VeryRaw: data, Raw: stripped}
	if content.ParseRaw(evtType) != nil {
		return nil
	}
	if msg, ok := content.Parsed.(*event.MessageEventContent); ok && msg.MsgType == "" {
		return nil
	}
	return content
}

// parseReason describes a JSON decoding error for the sender.
func parseReason(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		want := "something else"
		if typeErr.Type != nil {
			want = jsonKindOf(typeErr.Type.Kind())
		}
		return fmt.Sprintf("`%s` should be %s, not %s", typeErr.Field, want, jsonValueWords(typeErr.Value))
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return "it is not valid JSON"
	}
	return err.Error()
}

// jsonKindOf names, in JSON's words, what a Go value of kind k is decoded from.
func jsonKindOf(k reflect.Kind) string {
	switch k {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "something else"
}

// jsonValueWords names the kind of JSON value encoding/json reports in UnmarshalTypeError.Value
// ("array", "object", "string", "number", "bool" or a number's text such as "number 1.5").
func jsonValueWords(value string) string {
	switch {
	case value == "array":
		return "a list"
	case value == "object":
		return "an object"
	case value == "string":
		return "a string"
	case value == "bool":
		return "true or false"
	case strings.HasPrefix(value, "number"):
		return "a number"
	}
	return value
}

func fieldList(fields []string) string {
	quoted := make([]string, len(fields))
	for i, f := range fields {
		quoted[i] = "`" + f + "`"
	}
	return strings.Join(quoted, ", ")
}

// roomOfUnparsable returns the room and sender of a stored event that is not even a valid event
// (e.g. its content is not an object), when its header can still be read.
func roomOfUnparsable(raw json.RawMessage) (roomID id.RoomID, eventID id.EventID, sender id.UserID, evtType string, ok bool) {
	var hdr struct {
		RoomID  id.RoomID  `json:"room_id"`
		EventID id.EventID `json:"event_id"`
		Sender  id.UserID  `json:"sender"`
		Type    string     `json:"type"`
	}
	if json.Unmarshal(raw, &hdr) != nil || hdr.RoomID == "" || hdr.Sender == "" {
		return "", "", "", "", false
	}
	return hdr.RoomID, hdr.EventID, hdr.Sender, hdr.Type, true
}

// reportUnparsable tells the sender of a message in a portal room that could not be read at all.
func (br *Bridge) reportUnparsable(ctx context.Context, raw json.RawMessage, parseErr error) error {
	roomID, eventID, sender, evtType, ok := roomOfUnparsable(raw)
	if !ok || !slices.Contains(salvagedTypes, event.Type{Type: evtType, Class: event.MessageEventType}) || br.isBridgeUser(sender) {
		return nil
	}
	if p, err := br.portals.GetByMXID(ctx, roomID); err != nil {
		return err
	} else if p == nil {
		return nil
	}
	br.sendBotNoticeTxn(ctx, roomID, "malformed-"+eventID.String(), fmt.Sprintf(
		"Your message was not bridged to WhatsApp: its content is malformed (%s).", parseReason(parseErr)))
	return nil
}
