package bridge

import (
	"context"
	"fmt"

	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
)

// HandleUndecryptable implements whatsapp.Handler: the message is stored in the WhatsApp inbox, and
// its room shows a placeholder until the message arrives.
func (r waRouter) HandleUndecryptable(ctx context.Context, evt *events.UndecryptableMessage) error {
	return r.store(ctx, evt.Info.Chat, evt.Info.ID, evt)
}

// HandleMediaRetry implements whatsapp.Handler: the phone's re-upload replaces the notice of
// expired media.
func (r waRouter) HandleMediaRetry(ctx context.Context, evt *events.MediaRetry) error {
	if err := r.user.br.portals.HandleWhatsAppMediaRetry(ctx, r.login(), evt); err != nil {
		return fmt.Errorf("failed to bridge media retry of %s in %s: %w", evt.MessageID, evt.ChatID, err)
	}
	return nil
}

// HandleCall implements whatsapp.Handler: the chat's room hears about the call (bridge.calls).
func (r waRouter) HandleCall(ctx context.Context, evt any) error {
	call, ok := portal.CallFromEvent(evt)
	if !ok {
		return fmt.Errorf("unexpected call event %T", evt)
	}
	if err := r.user.br.portals.HandleWhatsAppCall(ctx, r.login(), call); err != nil {
		return fmt.Errorf("failed to bridge call %s: %w", call.ID, err)
	}
	return nil
}
