package bridge

import (
	"context"
	"fmt"

	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
)

// HandleUndecryptable implements whatsapp.Handler: the message's room shows a placeholder until the
// message arrives.
func (r waRouter) HandleUndecryptable(ctx context.Context, evt *events.UndecryptableMessage) error {
	if err := r.user.br.portals.HandleWhatsAppUndecryptable(ctx, r.login(), evt); err != nil {
		return fmt.Errorf("failed to show placeholder for message %s in %s: %w", evt.Info.ID, evt.Info.Chat, err)
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
