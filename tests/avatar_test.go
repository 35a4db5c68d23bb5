package tests

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

func testPNG(t testing.TB, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for x := range 8 {
		for y := range 8 {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestAvatars: a contact's picture becomes their ghost's avatar and follows changes; a group's
// picture becomes the room avatar.
func TestAvatars(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	carol, carolGhost := newContact(t, ctx, env, "4917600000002", "Carol")
	red, blue := testPNG(t, color.RGBA{R: 255, A: 255}), testPNG(t, color.RGBA{B: 255, A: 255})
	if _, err := env.WA.SetProfilePicture(ctx, carol.Account(), red); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.SendText(ctx, alice.acct.JID(), "look at my picture"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "look at my picture"))
	waitAvatar(t, ctx, env, alice, carolGhost, red)

	if _, err := env.WA.SetProfilePicture(ctx, carol.Account(), blue); err != nil {
		t.Fatal(err)
	}
	waitAvatar(t, ctx, env, alice, carolGhost, blue)

	group, err := env.WA.CreateGroup(ctx, carol.Account(), "With picture", alice.acct)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = env.WA.SetGroupPicture(ctx, carol.Account(), group, red); err != nil {
		t.Fatal(err)
	}
	room := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room)
	waitFor(t, ctx, "the group picture as room avatar", func() bool {
		var avatar event.RoomAvatarEventContent
		if err := alice.client.StateEvent(ctx, room, event.StateRoomAvatar, "", &avatar); err != nil || avatar.URL == "" {
			return false
		}
		uri, err := avatar.URL.Parse()
		if err != nil {
			return false
		}
		data, err := alice.client.DownloadBytes(ctx, uri)
		return err == nil && bytes.Equal(data, red)
	})
}

// waitAvatar waits until a user's avatar, as alice sees it, is exactly the picture want.
func waitAvatar(t testing.TB, ctx context.Context, env *waEnv, alice *loggedInUser, userID id.UserID, want []byte) {
	t.Helper()
	var last string
	defer func() {
		if t.Failed() {
			t.Logf("last avatar seen: %s", last)
		}
	}()
	waitFor(t, ctx, "the avatar of "+userID.String(), func() bool {
		url, err := alice.client.GetAvatarURL(ctx, userID)
		if err != nil || url.IsEmpty() {
			last = fmt.Sprintf("url %q, err %v", url, err)
			return false
		}
		data, err := alice.client.DownloadBytes(ctx, url)
		last = fmt.Sprintf("url %q, %d bytes, err %v", url, len(data), err)
		return err == nil && bytes.Equal(data, want)
	})
}
