package tests

import (
	"context"
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestBusinessNameRenamesGhost: a WhatsApp Business contact's verified name is the template's
// .BusinessName, and when the business changes it (WhatsApp sends the new certificate with its
// next message) the ghost is renamed.
func TestBusinessNameRenamesGhost(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "bridge.displayname_template", "{{or .BusinessName .PushName .Phone}} (WA)")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112300081")
	dan, danGhost := newContact(t, ctx, env, "4917600000081", "Dan")

	// An ordinary account first: the push name.
	if _, err := dan.SendText(ctx, alice.acct.JID(), "hello"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, danGhost)
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(danGhost, "hello"))
	ghostNameIs(t, ctx, alice.client, danGhost, "Dan (WA)")

	// Dan turns his account into a business account: its name comes with the next message.
	if err := dan.Account().SetBusinessName(ctx, "Dan's Deli"); err != nil {
		t.Fatal(err)
	}
	if _, err := dan.SendText(ctx, alice.acct.JID(), "we are open"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(danGhost, "we are open"))
	ghostNameIs(t, ctx, alice.client, danGhost, "Dan's Deli (WA)")

	// A rename of the business renames the ghost.
	if err := dan.Account().SetBusinessName(ctx, "Dan's Deli & Bar"); err != nil {
		t.Fatal(err)
	}
	if _, err := dan.SendText(ctx, alice.acct.JID(), "now with drinks"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(danGhost, "now with drinks"))
	ghostNameIs(t, ctx, alice.client, danGhost, "Dan's Deli & Bar (WA)")
}
