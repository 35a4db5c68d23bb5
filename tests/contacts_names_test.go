package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestContactNamesAsTyped: search finds a contact by its verified business name even when the
// ghost shows another name, a query that matches nothing is quoted as typed, and a name with a
// line break and Markdown becomes a one-line ghost name that list-contacts shows literally.
func TestContactNamesAsTyped(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil) // the default displayname_template
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112300091")
	dan, danGhost := newContact(t, ctx, env, "4917600000091", "Dan")
	ice, iceGhost := newContact(t, ctx, env, "4917600000092", "*ice*\nberg\x07")

	if err := dan.Account().SetBusinessName(ctx, "Deli Delights"); err != nil {
		t.Fatal(err)
	}
	if _, err := dan.SendText(ctx, alice.acct.JID(), "we are open"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, danGhost)
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(danGhost, "we are open"))
	ghostNameIs(t, ctx, alice.client, danGhost, "Dan (WA)") // the push name comes before the business name

	sendText(t, ctx, alice.client, alice.room, "search delights")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "1 contact(s)", "Dan (WA)", "+4917600000091"))
	sendText(t, ctx, alice.client, alice.room, "search Nobody Like `This`")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "No contacts match", "Nobody Like `This`"))

	if _, err := ice.SendText(ctx, alice.acct.JID(), "brrr"); err != nil {
		t.Fatal(err)
	}
	iceDM := joinPortal(t, ctx, env, alice.client, iceGhost, dm)
	env.WaitForMessage(ctx, alice.client, iceDM, fromGhost(iceGhost, "brrr"))
	ghostNameIs(t, ctx, alice.client, iceGhost, "*ice* berg (WA)")

	sendText(t, ctx, alice.client, alice.room, "list-contacts")
	list := env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "contact(s)", "berg (WA)"))
	content := list.Content.AsMessage()
	if !strings.Contains(content.Body, "*ice* berg (WA)") && !strings.Contains(content.Body, `\*ice\* berg (WA)`) {
		t.Errorf("list-contacts body lacks the name as typed: %q", content.Body)
	}
	if strings.Contains(content.FormattedBody, "<em>") || !strings.Contains(content.FormattedBody, "*ice* berg (WA)") {
		t.Errorf("list-contacts renders a contact's name as Markdown: %q", content.FormattedBody)
	}
}
