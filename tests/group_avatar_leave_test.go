package tests

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestGroupAvatarAndLeaveFromMatrix: a bridge user who is a WhatsApp admin of a group sets the
// room's avatar (a PNG), and the group's members see it as the group's picture (WhatsApp takes only
// JPEG: the bridge converts it); an avatar WhatsApp refuses is put back with a notice saying why;
// leaving the room leaves the WhatsApp group.
func TestGroupAvatarAndLeaveFromMatrix(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.Postgres, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340121")
	carol, _ := newContact(t, ctx, env, "4917600000121", "Carol")
	group, err := env.WA.CreateGroup(ctx, carol.Account(), "Pictures", alice.acct)
	if err != nil {
		t.Fatal(err)
	}
	room := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room)
	if _, err = env.WA.UpdateGroupParticipants(ctx, carol.Account(), group, wasim.GroupPromote, alice.acct); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "Alice's admin power level", func() bool {
		var levels event.PowerLevelsEventContent
		return alice.client.StateEvent(ctx, room, event.StatePowerLevels, "", &levels) == nil && levels.GetUserLevel(alice.client.UserID) >= levels.GetEventLevel(event.StateRoomAvatar)
	})

	// A PNG avatar becomes the group's picture, as a JPEG of the same size.
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := range 64 {
		for y := range 48 {
			img.Set(x, y, color.RGBA{R: uint8(x * 4), G: uint8(y * 5), B: 200, A: 255})
		}
	}
	var pngData bytes.Buffer
	if err = png.Encode(&pngData, img); err != nil {
		t.Fatal(err)
	}
	up, err := alice.client.UploadBytes(ctx, pngData.Bytes(), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	if _, err = alice.client.SendStateEvent(ctx, room, event.StateRoomAvatar, "", &event.RoomAvatarEventContent{URL: up.ContentURI.CUString()}); err != nil {
		t.Fatal(err)
	}
	got, err := carol.WaitEvent(ctx, func(evt any) bool {
		pic, ok := evt.(*events.Picture)
		return ok && pic.JID == group && !pic.Remove
	})
	if err != nil {
		t.Fatalf("Carol never saw the group's new picture: %v", err)
	}
	info, err := carol.Client().GetProfilePictureInfo(ctx, group, nil)
	if err != nil || info == nil || info.ID != got.(*events.Picture).PictureID {
		t.Fatalf("group picture info %+v, err %v", info, err)
	}
	resp, err := env.WA.HTTPClient().Get(info.URL)
	if err != nil {
		t.Fatal(err)
	}
	picture, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	decoded, err := jpeg.Decode(bytes.NewReader(picture))
	if err != nil || decoded.Bounds().Dx() != 64 || decoded.Bounds().Dy() != 48 {
		t.Fatalf("group picture is not a 64x48 JPEG: %v (%d bytes)", err, len(picture))
	}

	// WhatsApp refuses what is no picture: the avatar is put back and the bot says why.
	junk, err := alice.client.UploadBytes(ctx, []byte("this is not a picture"), "image/webp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err = alice.client.SendStateEvent(ctx, room, event.StateRoomAvatar, "", &event.RoomAvatarEventContent{URL: junk.ContentURI.CUString()}); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, room, func(evt *event.Event) bool {
		return evt.Sender == env.BotMXID() &&
			evt.Content.AsMessage().Body == "The group's picture was not changed on WhatsApp (WhatsApp takes only JPEG pictures), so it was changed back here."
	})
	waitFor(t, ctx, "the room avatar put back", func() bool {
		var avatar event.RoomAvatarEventContent
		return alice.client.StateEvent(ctx, room, event.StateRoomAvatar, "", &avatar) == nil && avatar.URL == up.ContentURI.CUString()
	})

	// Leaving the room leaves the group.
	if _, err = alice.client.LeaveRoom(ctx, room); err != nil {
		t.Fatal(err)
	}
	if _, err = carol.WaitEvent(ctx, func(evt any) bool {
		info, ok := evt.(*events.GroupInfo)
		if !ok || info.JID != group {
			return false
		}
		for _, left := range info.Leave {
			if left.User == alice.acct.JID().User || left.User == alice.acct.LID().User {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("Carol never saw Alice leave the group: %v", err)
	}
	members, err := carol.Client().GetGroupInfo(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members.Participants {
		if m.JID.User == alice.acct.LID().User || m.PhoneNumber.User == alice.acct.JID().User {
			t.Fatalf("Alice is still a member of the group: %+v", m)
		}
	}
}
