package whatsapp

import (
	"context"
	"fmt"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

func (h *fakeHandler) HandleUndecryptable(context.Context, *events.UndecryptableMessage) error {
	return h.record("HandleUndecryptable")
}

func (h *fakeHandler) HandleMediaRetry(context.Context, *events.MediaRetry) error {
	return h.record("HandleMediaRetry")
}

func (h *fakeHandler) HandleCall(_ context.Context, evt any) error {
	return h.record(fmt.Sprintf("HandleCall %T", evt))
}

// Undecryptable messages and the three call events reach their Handler methods and are
// acknowledged even when the handler fails (whatsmeow acknowledged them already, or a call is not
// worth a redelivery).
func TestUndecryptableAndCallEventsRouted(t *testing.T) {
	info := types.MessageInfo{ID: "3EB0X"}
	for _, evt := range []any{
		&events.UndecryptableMessage{Info: info, IsUnavailable: true},
		&events.CallOffer{}, &events.CallOfferNotice{}, &events.CallTerminate{},
	} {
		h := &fakeHandler{fail: fmt.Errorf("homeserver down")}
		l := newTestLogin(h)
		if !l.handleEvent(nil, evt) {
			t.Errorf("%T was not acknowledged after a handler failure", evt)
		}
		want := "HandleUndecryptable"
		if _, ok := evt.(*events.UndecryptableMessage); !ok {
			want = fmt.Sprintf("HandleCall %T", evt)
		}
		if got := h.took(); len(got) != 1 || got[0] != want {
			t.Errorf("%T reached %v, want %s", evt, got, want)
		}
	}
}

func (h *fakeHandler) HandleHistorySync(_ context.Context, chunk *HistoryChunk) error {
	return h.record("HandleHistorySync")
}
