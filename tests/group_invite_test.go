package tests

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

const errPrefix = "COM.GITHUB.MATRIX_WHATSAPP."

// TestGroupInviteLinks: a group admin gets and resets the group's invite link with the
// invite-link command and the provisioning API (members who are not admins are refused, the
// reset link stops working on WhatsApp), joins groups by link with the join command and the
// provisioning API (invited to the room, messages arrive), lists the groups, and every bad input
// gets its error: bad, unknown and revoked links, not an admin, not a member, unknown group.
func TestGroupInviteLinks(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "provisioning.enabled", true)
		e2e.SetConfig(cfg, "provisioning.shared_secret", provisioningSecret)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	api := provisioningClient{t: t, base: env.BridgeURL(), secret: provisioningSecret, user: alice.client.UserID}
	carol, _ := newContact(t, ctx, env, "4917600000002", "Carol")
	dave, daveGhost := newContact(t, ctx, env, "4917600000003", "Dave")
	erin, _ := newContact(t, ctx, env, "4917600000004", "Erin")
	bot := env.BotMXID()

	// The invite-link command in a group Alice is in but does not administer, then as an admin.
	book, err := env.WA.CreateGroup(ctx, carol.Account(), "Book club", alice.acct)
	if err != nil {
		t.Fatal(err)
	}
	bookRoom := joinPortal(t, ctx, env, alice.client, bot, alice.room)
	sendText(t, ctx, alice.client, bookRoom, "!wa invite-link")
	env.WaitForMessage(ctx, alice.client, bookRoom, botNotice(env.Env, "Could not get the invite link", "Only admins"))
	api.expect(ctx, http.MethodGet, "/groups/"+book.String()+"/invite_link", nil, http.StatusForbidden, errPrefix+"NOT_GROUP_ADMIN")
	if _, err = env.WA.UpdateGroupParticipants(ctx, carol.Account(), book, wasim.GroupPromote, alice.acct); err != nil {
		t.Fatal(err)
	}
	link, err := env.WA.GroupInviteLink(ctx, carol.Account(), book, false)
	if err != nil {
		t.Fatal(err)
	}
	sendText(t, ctx, alice.client, bookRoom, "!wa invite-link")
	env.WaitForMessage(ctx, alice.client, bookRoom, botNotice(env.Env, "Invite link of this group: "+link))
	if got := api.expect(ctx, http.MethodGet, "/groups/"+book.String()+"/invite_link", nil, http.StatusOK, ""); got["invite_link"] != link {
		t.Errorf("invite link by API = %v, want %s", got, link)
	}
	sendText(t, ctx, alice.client, alice.room, "invite-link")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "in the room of a WhatsApp group"))

	// Resetting revokes the old link on WhatsApp; the command resets too.
	reset := api.expect(ctx, http.MethodPost, "/groups/"+book.String()+"/invite_link/reset", nil, http.StatusOK, "")
	fresh, _ := reset["invite_link"].(string)
	if !strings.HasPrefix(fresh, whatsmeow.InviteLinkPrefix) || fresh == link {
		t.Fatalf("reset link = %v, want a new link", reset)
	}
	if _, err = erin.Client().JoinGroupWithLink(ctx, link); !errors.Is(err, whatsmeow.ErrInviteLinkRevoked) {
		t.Errorf("joining by the link reset through the API: %v, want ErrInviteLinkRevoked", err)
	}
	sendText(t, ctx, alice.client, bookRoom, "!wa invite-link reset")
	env.WaitForMessage(ctx, alice.client, bookRoom, botNotice(env.Env, "The old invite link no longer works"))
	if _, err = erin.Client().JoinGroupWithLink(ctx, fresh); !errors.Is(err, whatsmeow.ErrInviteLinkRevoked) {
		t.Errorf("joining by the link reset through the command: %v, want ErrInviteLinkRevoked", err)
	}

	// Joining by link with the command: Alice is invited to the group's room and sees its messages.
	chess, err := env.WA.CreateGroup(ctx, dave.Account(), "Chess", erin.Account())
	if err != nil {
		t.Fatal(err)
	}
	chessLink, err := env.WA.GroupInviteLink(ctx, dave.Account(), chess, false)
	if err != nil {
		t.Fatal(err)
	}
	sendText(t, ctx, alice.client, alice.room, "join not-a-link")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "is not a WhatsApp invite link"))
	sendText(t, ctx, alice.client, alice.room, "join "+link)
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Could not join the group", "reset by a group admin"))
	sendText(t, ctx, alice.client, alice.room, "join "+chessLink)
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, `You joined the WhatsApp group "Chess"`))
	chessRoom := joinPortal(t, ctx, env, alice.client, bot, alice.room, bookRoom)
	if _, err = dave.SendText(ctx, chess, "welcome, Alice"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, chessRoom, fromGhost(daveGhost, "welcome, Alice"))
	sendText(t, ctx, alice.client, chessRoom, "thanks!")
	waitWAText(t, ctx, dave, "thanks!")
	api.expect(ctx, http.MethodGet, "/groups/"+chess.String()+"/invite_link", nil, http.StatusForbidden, errPrefix+"NOT_GROUP_ADMIN")

	// Joining by link through the provisioning API, twice.
	hiking, err := env.WA.CreateGroup(ctx, dave.Account(), "Hiking", erin.Account())
	if err != nil {
		t.Fatal(err)
	}
	hikingLink, err := env.WA.GroupInviteLink(ctx, dave.Account(), hiking, false)
	if err != nil {
		t.Fatal(err)
	}
	joined := api.expect(ctx, http.MethodPost, "/groups/join", map[string]any{"link": hikingLink}, http.StatusOK, "")
	hikingRoom, _ := joined["room_id"].(string)
	if joined["jid"] != hiking.String() || joined["name"] != "Hiking" || hikingRoom == "" || joined["already_member"] != false {
		t.Fatalf("join by API = %v", joined)
	}
	if invited := env.WaitForInvite(ctx, alice.client, bot, alice.room, bookRoom, chessRoom); invited != id.RoomID(hikingRoom) {
		t.Errorf("invited to %s after joining, want %s", invited, hikingRoom)
	}
	again := api.expect(ctx, http.MethodPost, "/groups/join", map[string]any{"link": hikingLink}, http.StatusOK, "")
	if again["room_id"] != hikingRoom || again["already_member"] != true {
		t.Errorf("joining again = %v, want the same room and already_member", again)
	}
	if members, _ := env.WA.GroupMembers(hiking); len(members) != 3 {
		t.Errorf("Hiking has %d members, want 3", len(members))
	}

	// The list of groups.
	listed := api.expect(ctx, http.MethodGet, "/groups", nil, http.StatusOK, "")
	groups, _ := listed["groups"].([]any)
	want := map[string]struct {
		name  string
		room  id.RoomID
		admin bool
	}{book.String(): {"Book club", bookRoom, true}, chess.String(): {"Chess", chessRoom, false}, hiking.String(): {"Hiking", id.RoomID(hikingRoom), false}}
	if len(groups) != len(want) {
		t.Errorf("groups = %v, want %d", listed, len(want))
	}
	for _, g := range groups {
		g := g.(map[string]any)
		w, ok := want[g["jid"].(string)]
		if !ok || g["name"] != w.name || g["room_id"] != string(w.room) || g["is_admin"] != w.admin {
			t.Errorf("listed group %v, want %+v", g, w)
		}
	}

	// Bad input.
	api.expect(ctx, http.MethodPost, "/groups/join", `{"link": `, http.StatusBadRequest, "M_NOT_JSON")
	api.expect(ctx, http.MethodPost, "/groups/join", map[string]any{}, http.StatusBadRequest, "M_MISSING_PARAM")
	api.expect(ctx, http.MethodPost, "/groups/join", map[string]any{"link": "https://example.org/abc"}, http.StatusBadRequest, "M_INVALID_PARAM")
	api.expect(ctx, http.MethodPost, "/groups/join", map[string]any{"link": whatsmeow.InviteLinkPrefix + "NOSUCHCODE1234"}, http.StatusNotFound, errPrefix+"INVITE_LINK_INVALID")
	api.expect(ctx, http.MethodPost, "/groups/join", map[string]any{"link": link}, http.StatusGone, errPrefix+"INVITE_LINK_REVOKED")
	api.expect(ctx, http.MethodGet, "/groups/not-a-group/invite_link", nil, http.StatusBadRequest, "M_INVALID_PARAM")
	api.expect(ctx, http.MethodGet, "/groups/4917600000003@s.whatsapp.net/invite_link", nil, http.StatusBadRequest, "M_INVALID_PARAM")
	unknown := types.NewJID("120363000000000001", types.GroupServer)
	api.expect(ctx, http.MethodGet, "/groups/"+unknown.String()+"/invite_link", nil, http.StatusNotFound, errPrefix+"GROUP_NOT_FOUND")
	private, err := env.WA.CreateGroup(ctx, dave.Account(), "Private", erin.Account())
	if err != nil {
		t.Fatal(err)
	}
	api.expect(ctx, http.MethodPost, "/groups/"+url.PathEscape(private.String())+"/invite_link/reset", nil, http.StatusForbidden, errPrefix+"NOT_IN_GROUP")

	// A user without a login.
	bob := env.NewUser(t, "bob")
	noLogin := api
	noLogin.user = bob.UserID
	noLogin.expect(ctx, http.MethodGet, "/groups", nil, http.StatusConflict, errPrefix+"NOT_LOGGED_IN")
	noLogin.expect(ctx, http.MethodPost, "/groups/join", map[string]any{"link": hikingLink}, http.StatusConflict, errPrefix+"NOT_LOGGED_IN")
	noLogin.expect(ctx, http.MethodGet, "/groups/"+book.String()+"/invite_link", nil, http.StatusConflict, errPrefix+"NOT_LOGGED_IN")
}
