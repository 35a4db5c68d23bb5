package database_test

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

var (
	testUserJID  = types.NewADJID("4911111111", 0, 4)
	testGroupJID = types.NewJID("120363012345678901", types.GroupServer)
	testDMJID    = types.NewJID("4915112345678", types.DefaultUserServer)
)

func TestNewPortalKey(t *testing.T) {
	t.Parallel()
	group := database.NewPortalKey(testGroupJID, testUserJID)
	if !group.IsShared() || group.JID != testGroupJID || group.String() != testGroupJID.String() {
		t.Fatalf("group key = %+v, want shared with no receiver", group)
	}
	dm := database.NewPortalKey(types.NewADJID("4915112345678", 0, 2), testUserJID)
	if dm.IsShared() || dm.JID != testDMJID || dm.Receiver != testUserJID.ToNonAD() {
		t.Fatalf("DM key = %+v, want chat and receiver without device parts", dm)
	}
	if got := dm.String(); got != "4915112345678@s.whatsapp.net|4911111111@s.whatsapp.net" {
		t.Fatalf("DM key string = %q", got)
	}
}

// insertPortal stores a portal for key with the given room and returns it.
func insertPortal(t *testing.T, db *database.Database, key database.PortalKey, room string) *database.Portal {
	t.Helper()
	p := &database.Portal{Key: key, MXID: id.RoomID("!" + room + ":example.org"), Name: room}
	must(t, db.Portal.Insert(context.Background(), p))
	return p
}

func TestPortalRoundTrip(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		groupKey := database.NewPortalKey(testGroupJID, testUserJID)
		dmKey := database.NewPortalKey(testDMJID, testUserJID)
		otherDMKey := database.NewPortalKey(testDMJID, types.NewJID("4922222222", types.DefaultUserServer))

		roomAt := ms(time.Now())
		group := &database.Portal{Key: groupKey, MXID: "!group:example.org", Name: "Group", Topic: "About",
			AvatarID: "123", AvatarMXC: "mxc://example.org/g", NameSet: true, TopicSet: true, Encrypted: true, DisappearTimer: 7 * 24 * time.Hour, RelayUser: "@alice:example.org",
			RoomCreatedAt: roomAt}
		must(t, db.Portal.Insert(ctx, group))
		dm := &database.Portal{Key: dmKey}
		must(t, db.Portal.Insert(ctx, dm))
		insertPortal(t, db, otherDMKey, "other")
		if err := db.Portal.Insert(ctx, &database.Portal{Key: groupKey}); err == nil {
			t.Fatal("inserting a second portal with the same key succeeded")
		}
		if err := db.Portal.Insert(ctx, &database.Portal{Key: database.NewPortalKey(types.NewJID("9", types.GroupServer), testUserJID), MXID: group.MXID}); err == nil {
			t.Fatal("two portals with the same room were accepted")
		}

		got, err := db.Portal.GetByKey(ctx, groupKey)
		must(t, err)
		if got == nil || got.Key != groupKey || got.MXID != group.MXID || got.Name != "Group" || got.Topic != "About" ||
			got.AvatarID != "123" || got.AvatarMXC != group.AvatarMXC || !got.NameSet || !got.TopicSet || got.AvatarSet ||
			!got.Encrypted || got.DisappearTimer != 7*24*time.Hour || got.RelayUser != "@alice:example.org" || !got.RoomCreatedAt.Equal(roomAt) || !sameTime(got.CreatedAt, group.CreatedAt) {
			t.Fatalf("GetByKey returned %+v, want %+v", got, group)
		}
		byRoom, err := db.Portal.GetByMXID(ctx, group.MXID)
		must(t, err)
		if byRoom == nil || byRoom.Key != groupKey {
			t.Fatalf("GetByMXID = %+v, want the group", byRoom)
		}
		gotDM, err := db.Portal.GetByKey(ctx, dmKey)
		must(t, err)
		if gotDM == nil || gotDM.MXID != "" || gotDM.Key.Receiver != testUserJID.ToNonAD() {
			t.Fatalf("GetByKey(dm) = %+v", gotDM)
		}

		mine, err := db.Portal.GetAllForReceiver(ctx, testUserJID)
		must(t, err)
		if len(mine) != 1 || mine[0].Key != dmKey {
			t.Fatalf("GetAllForReceiver = %v, want only the user's DM", mine)
		}
		all, err := db.Portal.GetAll(ctx)
		must(t, err)
		if len(all) != 3 {
			t.Fatalf("GetAll returned %d portals, want 3", len(all))
		}

		dm.MXID, dm.Name, dm.AvatarSet = "!dm:example.org", "Alice", true
		must(t, db.Portal.Update(ctx, dm))
		gotDM, err = db.Portal.GetByMXID(ctx, "!dm:example.org")
		must(t, err)
		if gotDM == nil || gotDM.Name != "Alice" || !gotDM.AvatarSet || gotDM.Key != dmKey {
			t.Fatalf("after Update got %+v", gotDM)
		}

		must(t, db.Portal.Delete(ctx, groupKey))
		if gone, err := db.Portal.GetByKey(ctx, groupKey); err != nil || gone != nil {
			t.Fatalf("GetByKey after Delete = %v, %v; want nil, nil", gone, err)
		}
	})
}
