package bridge

import (
	"context"
	"testing"

	"maunium.net/go/mautrix/id"
)

// TestPendingNoticeOncePerOutage: a room is told once that its messages wait for WhatsApp; when
// one bridge user's connection comes back only the rooms waiting for that user may be told again,
// so another user's reconnect does not repeat the notice in rooms still waiting.
func TestPendingNoticeOncePerOutage(t *testing.T) {
	t.Parallel()
	br := &Bridge{pendingRooms: make(map[id.RoomID]id.UserID)}
	ctx := context.Background()
	alice, bob := id.UserID("@alice:test.local"), id.UserID("@bob:test.local")
	roomA, roomB := id.RoomID("!a:test.local"), id.RoomID("!b:test.local")
	steps := []struct {
		room id.RoomID
		user id.UserID
		want bool
	}{{roomA, alice, true}, {roomA, alice, false}, {roomB, bob, true}, {roomB, bob, false}}
	for i, s := range steps {
		if got := br.notePending(ctx, s.room, s.user); got != s.want {
			t.Fatalf("step %d: notePending(%s, %s) = %t, want %t", i, s.room, s.user, got, s.want)
		}
	}
	br.clearPending(ctx, bob)
	if br.notePending(ctx, roomA, alice) {
		t.Error("bob's reconnect made alice's waiting room be told again")
	}
	if !br.notePending(ctx, roomB, bob) {
		t.Error("after bob's reconnect a new outage of his is not told")
	}
	br.clearPending(ctx, alice)
	if !br.notePending(ctx, roomA, alice) {
		t.Error("after alice's reconnect a new outage of hers is not told")
	}
}
