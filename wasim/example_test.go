package wasim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// A companion (the bridge, here a bare whatsmeow client) pairs with a simulated account by QR and
// talks to a simulated contact.
func ExampleServer() {
	ctx := context.Background()
	srv, err := wasim.New(ctx, wasim.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	acct, _ := srv.CreateAccount(ctx, "+49 151 0000001", "Alice")
	bob, _ := srv.CreateContact(ctx, "+49 151 0000002", "Bob")

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	container, _ := wasim.OpenStore(ctx, filepath.Join(dir, "bridge.db"), nil)
	dev, _ := container.GetFirstDevice(ctx)
	cli := srv.NewClient(dev) // or whatsmeow.NewClient + srv.ConfigureClient
	received := wasim.NewEventLog()
	cli.AddEventHandler(received.Add)
	_ = cli.Connect()
	qr, _ := received.WaitEvent(ctx, func(evt any) bool { _, ok := evt.(*events.QR); return ok })
	_ = acct.ScanQR(ctx, qr.(*events.QR).Codes[0])
	_, _ = received.WaitEvent(ctx, func(evt any) bool { _, ok := evt.(*events.Connected); return ok })

	_, _ = bob.SendText(ctx, acct.JID(), "hi")
	msg, _ := received.WaitMessage(ctx, nil)
	fmt.Println(wasim.MessageText(msg))
}
