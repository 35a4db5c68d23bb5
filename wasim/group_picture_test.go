package wasim

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// TestGroupPictureFromClient: a member sets a group's picture with whatsmeow's SetGroupPhoto; the
// other members hear of it and can fetch it. Only JPEG is accepted, only admins may once the
// group's info is locked, and outsiders may not at all; removing the picture is announced too.
func TestGroupPictureFromClient(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	ann := newContact(t, ctx, srv, "Ann")
	ben := newContact(t, ctx, srv, "Ben")
	cat := newContact(t, ctx, srv, "Cat")
	info, err := ann.Client().CreateGroup(ctx, whatsmeow.ReqCreateGroup{Name: "Pictures", Participants: []types.JID{ben.JID()}})
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, ctx, "Ben", ben.EventLog, info.JID)
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, []byte("group picture")...)
	id, err := ben.Client().SetGroupPhoto(ctx, info.JID, jpeg)
	if err != nil || id == "" {
		t.Fatalf("member's SetGroupPhoto: id %q, err %v", id, err)
	}
	if _, err = ann.WaitEvent(ctx, func(evt any) bool {
		pic, ok := evt.(*events.Picture)
		return ok && pic.JID == info.JID && pic.PictureID == id && !pic.Remove
	}); err != nil {
		t.Fatalf("Ann never heard of the new picture: %v", err)
	}
	got, err := ann.Client().GetProfilePictureInfo(ctx, info.JID, nil)
	if err != nil || got == nil || got.ID != id {
		t.Fatalf("picture info %+v, err %v, want id %s", got, err, id)
	}
	resp, err := srv.HTTPClient().Get(got.URL)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(data, jpeg) {
		t.Fatalf("downloaded picture differs: %q", data)
	}

	if _, err = ben.Client().SetGroupPhoto(ctx, info.JID, []byte("\x89PNG\r\n\x1a\n not a jpeg")); !errors.Is(err, whatsmeow.ErrInvalidImageFormat) {
		t.Fatalf("PNG picture: err %v, want ErrInvalidImageFormat", err)
	}
	if _, err = cat.Client().SetGroupPhoto(ctx, info.JID, jpeg); !errors.Is(err, whatsmeow.ErrIQForbidden) {
		t.Fatalf("outsider's picture: err %v, want forbidden", err)
	}
	if err = ann.Client().SetGroupLocked(ctx, info.JID, true); err != nil {
		t.Fatal(err)
	}
	waitGroupInfo(t, ctx, "Ben", ben.EventLog, info.JID, func(evt *events.GroupInfo) bool { return evt.Locked != nil && evt.Locked.IsLocked })
	if _, err = ben.Client().SetGroupPhoto(ctx, info.JID, jpeg); !errors.Is(err, whatsmeow.ErrIQNotAuthorized) {
		t.Fatalf("member's picture in a locked group: err %v, want not authorized", err)
	}
	if _, err = ann.Client().SetGroupPhoto(ctx, info.JID, nil); err != nil {
		t.Fatalf("admin's removal: %v", err)
	}
	if _, err = ben.WaitEvent(ctx, func(evt any) bool {
		pic, ok := evt.(*events.Picture)
		return ok && pic.JID == info.JID && pic.Remove
	}); err != nil {
		t.Fatalf("Ben never heard of the removal: %v", err)
	}
}
