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

// TestProfilePictures: a contact's and a group's picture can be looked up and downloaded, an
// unchanged picture answers "not modified", changes are announced, and a removed one reads as unset.
func TestProfilePictures(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	alice := newContact(t, ctx, srv, "Alice")
	bob := newContact(t, ctx, srv, "Bob")
	if _, err := bob.Client().GetProfilePictureInfo(ctx, alice.JID(), nil); !errors.Is(err, whatsmeow.ErrProfilePictureNotSet) {
		t.Fatalf("picture before one was set: %v", err)
	}
	data := []byte("\x89PNG\r\n\x1a\nalice's face")
	id, err := srv.SetProfilePicture(ctx, alice.Account(), data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = bob.WaitEvent(ctx, func(evt any) bool {
		pic, ok := evt.(*events.Picture)
		return ok && pic.PictureID == id && pic.JID.User == alice.LID().User
	}); err != nil {
		t.Fatalf("no picture notification: %v", err)
	}
	for _, jid := range []types.JID{alice.JID(), alice.LID()} {
		info, err := bob.Client().GetProfilePictureInfo(ctx, jid, nil)
		if err != nil || info == nil || info.ID != id {
			t.Fatalf("picture of %s: %+v %v", jid, info, err)
		}
		resp, err := srv.HTTPClient().Get(info.URL)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(got, data) {
			t.Fatalf("downloaded picture differs: %q", got)
		}
	}
	if info, err := bob.Client().GetProfilePictureInfo(ctx, alice.JID(), &whatsmeow.GetProfilePictureParams{ExistingID: id}); err != nil || info != nil {
		t.Fatalf("unchanged picture: %+v %v", info, err)
	}
	if _, err = srv.SetProfilePicture(ctx, alice.Account(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err = bob.Client().GetProfilePictureInfo(ctx, alice.JID(), nil); !errors.Is(err, whatsmeow.ErrProfilePictureNotSet) {
		t.Fatalf("removed picture: %v", err)
	}

	group, err := srv.CreateGroup(ctx, alice.Account(), "Pictures", bob.Account())
	if err != nil {
		t.Fatal(err)
	}
	groupID, err := srv.SetGroupPicture(ctx, alice.Account(), group, []byte("group picture"))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := bob.Client().GetProfilePictureInfo(ctx, group, nil); err != nil || info.ID != groupID {
		t.Fatalf("group picture: %+v %v", info, err)
	}
}
