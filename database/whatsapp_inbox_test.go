package database_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

func waInboxEvent(portal database.PortalKey, waID string) *database.WhatsAppInboxEvent {
	return &database.WhatsAppInboxEvent{
		User: "@alice:example.org", Portal: portal, Kind: "message", Version: 1,
		WAID: types.MessageID(waID), Payload: []byte(`{"info":{"ID":"` + waID + `"}}`),
	}
}

func waIDs(events []*database.WhatsAppInboxEvent) []string {
	out := make([]string, len(events))
	for i, evt := range events {
		out[i] = string(evt.WAID)
	}
	return out
}

// TestWhatsAppInboxOrderPerPortal: events come back per portal in the order they were stored,
// portals ordered by their oldest pending event, and done or failed events are no longer pending.
func TestWhatsAppInboxOrderPerPortal(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		own := types.NewJID("4915100000001", types.DefaultUserServer)
		dm := database.NewPortalKey(types.NewJID("4917600000002", types.DefaultUserServer), own)
		group := database.NewPortalKey(types.NewJID("120363000000000001", types.GroupServer), own)

		stored := []*database.WhatsAppInboxEvent{
			waInboxEvent(group, "G1"), waInboxEvent(dm, "D1"), waInboxEvent(group, "G2"), waInboxEvent(dm, "D2"),
		}
		for _, evt := range stored {
			must(t, db.WAInbox.Enqueue(ctx, evt, nil))
			if evt.Seq == 0 || evt.State != database.InboxPending || evt.ReceivedAt.IsZero() {
				t.Fatalf("Enqueue left seq %d, state %q, received at %v", evt.Seq, evt.State, evt.ReceivedAt)
			}
		}
		portals, err := db.WAInbox.PendingPortals(ctx)
		must(t, err)
		if len(portals) != 2 || portals[0] != group || portals[1] != dm {
			t.Fatalf("PendingPortals = %v, want [%v %v]", portals, group, dm)
		}
		got, err := db.WAInbox.Pending(ctx, dm)
		must(t, err)
		if ids := waIDs(got); len(ids) != 2 || ids[0] != "D1" || ids[1] != "D2" {
			t.Fatalf("Pending(dm) = %v, want [D1 D2]", ids)
		}
		if got[0].User != "@alice:example.org" || got[0].Portal != dm || got[0].Kind != "message" || got[0].Version != 1 ||
			string(got[0].Payload) != string(stored[1].Payload) {
			t.Fatalf("stored row read back as %+v", got[0])
		}

		must(t, db.WAInbox.MarkDone(ctx, stored[0].Seq))
		must(t, db.WAInbox.RecordAttempt(ctx, stored[2].Seq, errors.New("homeserver down")))
		must(t, db.WAInbox.MarkFailed(ctx, stored[1].Seq, errors.New("M_FORBIDDEN")))
		got, err = db.WAInbox.Pending(ctx, group)
		must(t, err)
		if len(got) != 1 || got[0].WAID != "G2" || got[0].Attempts != 1 || got[0].LastError != "homeserver down" {
			t.Fatalf("Pending(group) after one done and one attempt = %+v", got)
		}
		if handled, err := db.WAInbox.Get(ctx, stored[0].Seq); err != nil || handled != nil {
			t.Fatalf("handled row read back as %+v (%v); want it deleted", handled, err)
		}
		failed, err := db.WAInbox.Get(ctx, stored[1].Seq)
		must(t, err)
		if failed.State != database.InboxFailed || failed.LastError != "M_FORBIDDEN" {
			t.Fatalf("failed row is %q with error %q", failed.State, failed.LastError)
		}
		portals, err = db.WAInbox.PendingPortals(ctx)
		must(t, err)
		if len(portals) != 2 || portals[0] != group || portals[1] != dm {
			t.Fatalf("PendingPortals after the first rows settled = %v, want [%v %v]", portals, group, dm)
		}

		stats, err := db.Stats(ctx)
		must(t, err)
		if stats.WAInboxPending != 2 || !sameTime(stats.WAInboxOldest, stored[2].ReceivedAt) && !sameTime(stats.WAInboxOldest, stored[3].ReceivedAt) {
			t.Fatalf("Stats shows %d pending WhatsApp events, the oldest at %v", stats.WAInboxPending, stats.WAInboxOldest)
		}
	})
}

// TestWhatsAppInboxPrune: only failed events older than the limit are removed (handled ones are
// deleted when they settle).
func TestWhatsAppInboxPrune(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		dm := database.NewPortalKey(types.NewJID("4917600000002", types.DefaultUserServer), types.NewJID("4915100000001", types.DefaultUserServer))
		done, failed, pending := waInboxEvent(dm, "A"), waInboxEvent(dm, "B"), waInboxEvent(dm, "C")
		for _, evt := range []*database.WhatsAppInboxEvent{done, failed, pending} {
			must(t, db.WAInbox.Enqueue(ctx, evt, nil))
		}
		must(t, db.WAInbox.MarkDone(ctx, done.Seq))
		must(t, db.WAInbox.MarkFailed(ctx, failed.Seq, errors.New("refused")))
		n, err := db.WAInbox.Prune(ctx, time.Hour)
		must(t, err)
		if n != 0 {
			t.Fatalf("Prune removed %d fresh events", n)
		}
		n, err = db.WAInbox.Prune(ctx, -time.Minute)
		must(t, err)
		if n != 1 {
			t.Fatalf("Prune removed %d events, want the failed one (the done one was deleted when it settled)", n)
		}
		if row, err := db.WAInbox.Get(ctx, failed.Seq); err != nil || row != nil {
			t.Fatalf("failed event is still there after Prune (%v)", err)
		}
		if row, err := db.WAInbox.Get(ctx, pending.Seq); err != nil || row == nil {
			t.Fatalf("pending event is gone after Prune (%v)", err)
		}
	})
}

// TestWhatsAppInboxSettlesSeveral: one MarkDone or MarkFailed settles an event together with the
// events it stands for, and leaves the others pending.
func TestWhatsAppInboxSettlesSeveral(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		dm := database.NewPortalKey(types.NewJID("4917600000002", types.DefaultUserServer), types.NewJID("4915100000001", types.DefaultUserServer))
		var rows []*database.WhatsAppInboxEvent
		for _, id := range []string{"R1", "R2", "R3", "F1", "F2", "P"} {
			evt := waInboxEvent(dm, id)
			must(t, db.WAInbox.Enqueue(ctx, evt, nil))
			rows = append(rows, evt)
		}
		must(t, db.WAInbox.MarkDone(ctx, rows[2].Seq, rows[0].Seq, rows[1].Seq))
		must(t, db.WAInbox.MarkFailed(ctx, rows[4].Seq, errors.New("M_FORBIDDEN"), rows[3].Seq))
		const deleted = database.InboxState("deleted")
		want := map[string]database.InboxState{
			"R1": deleted, "R2": deleted, "R3": deleted,
			"F1": database.InboxFailed, "F2": database.InboxFailed, "P": database.InboxPending,
		}
		for _, evt := range rows {
			got, err := db.WAInbox.Get(ctx, evt.Seq)
			must(t, err)
			if got == nil {
				got = &database.WhatsAppInboxEvent{State: deleted}
			}
			if got.State != want[string(evt.WAID)] {
				t.Errorf("%s is %q, want %q", evt.WAID, got.State, want[string(evt.WAID)])
			}
			if got.State == database.InboxFailed && got.LastError != "M_FORBIDDEN" {
				t.Errorf("%s failed with %q", evt.WAID, got.LastError)
			}
		}
	})
}
