package portal

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// portalEvent is one thing a portal's queue carries. The set of kinds is closed (the marker method
// is unexported): every kind is listed below and handled in Portal.handle.
type portalEvent interface {
	// kind names the event in logs and in the error of a panicking handler.
	kind() string
}

// waMessageEvent is a WhatsApp message received by login's connection.
type waMessageEvent struct {
	login Login
	evt   *events.Message
}

// groupInfoEvent is a change of a WhatsApp group (name, topic, members, admins).
type groupInfoEvent struct {
	login Login
	evt   *events.GroupInfo
}

// ensureRoomEvent asks for the portal's room with login's user in it.
type ensureRoomEvent struct {
	login Login
}

// adoptDMEvent makes a room the user created the DM portal.
type adoptDMEvent struct {
	login  Login
	roomID id.RoomID
}

// avatarEvent asks to follow a change of the group's picture.
type avatarEvent struct {
	login Login
}

// matrixEvent is a Matrix event from a real user, to be sent to WhatsApp as login, or, with
// relayed set, through the portal's relay (relay.go).
type matrixEvent struct {
	login   Login
	evt     *event.Event
	relayed bool
}

// waUndecryptableEvent is a WhatsApp message login's connection could not decrypt (undecryptable.go).
type waUndecryptableEvent struct {
	login Login
	evt   *events.UndecryptableMessage
}

// waCallEvent is the start or end of a WhatsApp call (calls.go).
type waCallEvent struct {
	login Login
	call  Call
}

func (*waMessageEvent) kind() string  { return "whatsapp message" }
func (*groupInfoEvent) kind() string  { return "group info" }
func (*ensureRoomEvent) kind() string { return "ensure room" }
func (*adoptDMEvent) kind() string    { return "adopt dm" }
func (*avatarEvent) kind() string     { return "group avatar" }
func (e *matrixEvent) kind() string   { return "matrix " + e.evt.Type.Type }

func (*waUndecryptableEvent) kind() string { return "whatsapp undecryptable message" }
func (*waCallEvent) kind() string          { return "whatsapp call" }

// handle runs the handler of one event in the portal goroutine.
func (p *Portal) handle(ctx context.Context, evt portalEvent) error {
	switch evt := evt.(type) {
	case *waMessageEvent:
		return p.handleWAMessage(ctx, evt.login, evt.evt)
	case *importEvent:
		return p.handleImport(ctx, evt)
	case *giveUpEvent:
		return p.handleGiveUp(ctx, evt)
	case *groupInfoEvent:
		if p.row.MXID == "" {
			return p.ensureRoom(ctx, evt.login)
		}
		return p.applyGroupInfo(ctx, evt.login, evt.evt)
	case *ensureRoomEvent:
		return p.ensureRoom(ctx, evt.login)
	case *adoptDMEvent:
		return p.adoptDM(ctx, evt.login, evt.roomID)
	case *avatarEvent:
		return p.syncAvatar(ctx, evt.login)
	case *waUndecryptableEvent:
		return p.handleWAUndecryptable(ctx, evt.login, evt.evt)
	case *waCallEvent:
		return p.handleWACall(ctx, evt.login, evt.call)
	case *historyEvent:
		return p.handleHistory(ctx, evt) // backfill.go
	case *adoptGroupEvent:
		return p.adoptGroup(ctx, evt.login, evt.roomID, evt.info) // group_create.go
	case *expireEvent:
		return p.handleExpire(ctx, evt.waID) // expiry.go
	case *mediaRequestEvent:
		return p.handleMediaRequest(ctx, evt) // media_retry.go
	case *mediaRetryEvent:
		return p.handleMediaRetry(ctx, evt.login, evt.evt)
	case *disappearingEvent:
		return p.handleSetDisappearing(ctx, evt) // disappearing.go
	case *matrixEvent:
		ctx = zerolog.Ctx(ctx).With().Stringer("event_id", evt.evt.ID).Stringer("sender", evt.evt.Sender).Logger().WithContext(ctx)
		if evt.relayed {
			return p.handleRelayed(ctx, evt.evt) // relay.go
		}
		return p.handleMatrix(ctx, evt.login, evt.evt)
	case *relayEvent:
		return p.handleSetRelay(ctx, evt)
	default:
		return fmt.Errorf("unknown portal event %T", evt)
	}
}
