package wasim_test

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// Two simulated users in a group made through the Go API: the member learns of the group as a
// whatsmeow JoinedGroup event and then reads the creator's message.
func ExampleServer_CreateGroup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := wasim.New(ctx, wasim.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	alice, _ := srv.CreateContact(ctx, "+49 151 0000011", "Alice")
	bob, _ := srv.CreateContact(ctx, "+49 151 0000012", "Bob")

	group, _ := srv.CreateGroup(ctx, alice.Account(), "Lunch", bob.Account())
	joined, _ := bob.WaitEvent(ctx, func(evt any) bool { _, ok := evt.(*events.JoinedGroup); return ok })
	fmt.Println(joined.(*events.JoinedGroup).Name)

	_, _ = alice.SendText(ctx, group, "pizza?")
	msg, _ := bob.WaitMessage(ctx, func(m *events.Message) bool { return wasim.MessageText(m) != "" })
	fmt.Println(msg.Info.Chat == group, wasim.MessageText(msg))
	// Output:
	// Lunch
	// true pizza?
}
