package demo

import (
	"context"
	"sync"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// EchoPrefix starts every answer of the echo contact.
const EchoPrefix = "Echo: "

// echoQueue is how many received messages may wait for their echo.
const echoQueue = 256

// Echo makes a simulated contact answer every text message it receives with EchoPrefix + the text,
// in the chat it came from, in the order received.
type Echo struct {
	contact *wasim.Contact
	log     zerolog.Logger
	queue   chan *events.Message
	wg      sync.WaitGroup
}

// StartEcho starts answering messages sent to contact until ctx ends. Call Wait after cancelling ctx
// to know that the last answer was sent.
func StartEcho(ctx context.Context, contact *wasim.Contact, log zerolog.Logger) *Echo {
	e := &Echo{contact: contact, log: log, queue: make(chan *events.Message, echoQueue)}
	// whatsmeow runs event handlers inline in its receive loop, so the handler only queues and a
	// goroutine sends.
	contact.Client().AddEventHandler(func(evt any) {
		msg, ok := evt.(*events.Message)
		if !ok || msg.Info.IsFromMe || wasim.MessageText(msg) == "" {
			return
		}
		select {
		case e.queue <- msg:
		default:
			e.log.Warn().Str("wa_message_id", msg.Info.ID).Msg("Echo queue full, dropping message")
		}
	})
	e.wg.Add(1)
	go e.loop(ctx)
	return e
}

// Wait blocks until the echo goroutine has stopped (after its ctx ended).
func (e *Echo) Wait() { e.wg.Wait() }

func (e *Echo) loop(ctx context.Context) {
	defer e.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-e.queue:
			e.answer(ctx, msg)
		}
	}
}

func (e *Echo) answer(ctx context.Context, msg *events.Message) {
	chat := msg.Info.Chat
	if chat.Server == types.GroupServer {
		// Answer only direct chats: in a group every member's message would be echoed.
		return
	}
	if _, err := e.contact.SendText(ctx, chat, EchoPrefix+wasim.MessageText(msg)); err != nil {
		if ctx.Err() == nil {
			e.log.Err(err).Stringer("chat", chat).Msg("Failed to send echo")
		}
		return
	}
	e.log.Debug().Stringer("chat", chat).Str("wa_message_id", msg.Info.ID).Msg("Echoed message")
}
