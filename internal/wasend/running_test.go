package wasend

import (
	"context"
	"errors"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// TestEndedSendsAreForgotten: once a client's sends have ended, nothing here refers to the client
// any more, so a client the bridge let go of without Wait (a replaced connection's) can be freed.
func TestEndedSendsAreForgotten(t *testing.T) {
	cli := whatsmeow.NewClient(&store.Device{}, nil) // never connected: its sends fail at once
	for range 3 {
		_, err := Message(context.Background(), cli, types.NewJID("4915100000002", types.DefaultUserServer), &waE2E.Message{Conversation: proto.String("hi")})
		if !errors.Is(err, whatsmeow.ErrNotLoggedIn) && !errors.Is(err, whatsmeow.ErrNotConnected) {
			t.Fatalf("send of a client never connected returned %v", err)
		}
	}
	runningLock.Lock()
	_, held := running[cli]
	runningLock.Unlock()
	if held {
		t.Fatal("the client is still referenced after all its sends ended")
	}
	if !Wait(cli, 0) {
		t.Fatal("Wait reported a send running for a client without any")
	}
}
