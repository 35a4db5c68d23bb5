package metrics

import (
	"context"
	"encoding/json"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/hserr"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
)

// countingMatrix is a portal.Matrix that counts what ghosts send: each successful SendEvent or
// Redact by a user other than the bot is a message bridged from WhatsApp to Matrix; each failed one
// a failure. The bot's own notices are not bridged messages and are not counted.
type countingMatrix struct {
	portal.Matrix
	m *Metrics
}

// Matrix wraps inner so that the messages portals send through it are counted.
func (m *Metrics) Matrix(inner portal.Matrix) portal.Matrix {
	return countingMatrix{Matrix: inner, m: m}
}

// SendEvent implements portal.Matrix.
func (c countingMatrix) SendEvent(ctx context.Context, user id.UserID, roomID id.RoomID, evtType event.Type, content any, ts int64, txnID string) (id.EventID, error) {
	eventID, err := c.Matrix.SendEvent(ctx, user, roomID, evtType, content, ts, txnID)
	c.count(ctx, user, err, func() string { return MatrixKind(evtType, content) })
	return eventID, err
}

// Redact implements portal.Matrix.
func (c countingMatrix) Redact(ctx context.Context, user id.UserID, roomID id.RoomID, target id.EventID, txnID string) error {
	err := c.Matrix.Redact(ctx, user, roomID, target, txnID)
	c.count(ctx, user, err, func() string { return "redaction" })
	return err
}

func (c countingMatrix) count(ctx context.Context, user id.UserID, err error, kind func() string) {
	switch {
	case user == c.Matrix.BotMXID():
	case err == nil:
		c.m.Bridged(WhatsAppToMatrix, kind())
	case ctx.Err() != nil:
		// Cancelled by shutdown: neither bridged nor a failure of the homeserver.
	case hserr.Transient(err):
		c.m.Failed(WhatsAppToMatrix, ReasonHomeserverUnreachable)
	default:
		c.m.Failed(WhatsAppToMatrix, ReasonHomeserverRefused)
	}
}

// msgtypeKinds maps Matrix msgtypes to kind labels.
var msgtypeKinds = map[event.MessageType]string{
	event.MsgText: "text", event.MsgNotice: "notice", event.MsgEmote: "emote", event.MsgImage: "image",
	event.MsgVideo: "video", event.MsgAudio: "audio", event.MsgFile: "file", event.MsgLocation: "location",
}

// MatrixKind is the kind label of a Matrix event: text, notice, emote, image, video, audio, file,
// location, sticker, reaction, edit, poll or other. content is anything that marshals to the
// event's JSON content.
func MatrixKind(evtType event.Type, content any) string {
	switch evtType.Type {
	case event.EventReaction.Type:
		return "reaction"
	case event.EventSticker.Type:
		return "sticker"
	case event.EventMessage.Type:
	case "org.matrix.msc3381.poll.start", "m.poll.start":
		return "poll"
	default:
		return "other"
	}
	var msgType event.MessageType
	var relType event.RelationType
	if mc, ok := content.(*event.MessageEventContent); ok {
		msgType = mc.MsgType
		if mc.RelatesTo.GetReplaceID() != "" {
			relType = event.RelReplace
		}
	} else {
		var head struct {
			MsgType   event.MessageType `json:"msgtype"`
			RelatesTo struct {
				RelType event.RelationType `json:"rel_type"`
			} `json:"m.relates_to"`
		}
		if data, err := json.Marshal(content); err == nil && json.Unmarshal(data, &head) == nil {
			msgType, relType = head.MsgType, head.RelatesTo.RelType
		}
	}
	if relType == event.RelReplace {
		return "edit"
	}
	if kind, ok := msgtypeKinds[msgType]; ok {
		return kind
	}
	return "other"
}
