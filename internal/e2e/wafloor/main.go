// Command wafloor is the performance benchmark's WhatsApp floor: one WhatsApp login run exactly as
// the bridge runs it (whatsapp.Login: whatsmeow with the bridge's PostgreSQL store from
// database.Open, internal/sessionlock, synchronous acknowledgements, the decrypted-event buffer,
// the retry buffer of sent messages, every send through internal/wasend), whose event handler does
// nothing but report the text messages it receives. The benchmark reads its CPU time and its
// database backends' CPU time per message next to the bridge's, so that what bridging costs
// beyond keeping a WhatsApp connection can be told apart (docs/PERFORMANCE.md).
//
// It pairs as a new companion device by QR code, against a WhatsApp simulator reached at -dial
// over plain HTTP and trusting the Noise root key -root-key. One line per message on standard
// output:
//
//	qr <code>        a QR code to scan with the account's phone (until paired)
//	ready <jid>      the device is paired and connected; commands are taken from now on
//	recv <quoted>    a text message arrived (the text as a Go-quoted string)
//	error <text>     a send failed, or pairing did
//
// and on standard input:
//
//	send <jid> <text>   sends text to jid; each jid's messages go out one after another, in order,
//	                    different jids' at the same time (as the bridge's portals do)
//
// It runs until standard input closes or it is signalled; its log goes to standard error.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

func main() {
	dbURI := flag.String("db", "", "PostgreSQL connection string of the floor's own database (required)")
	dial := flag.String("dial", "", "host:port of the WhatsApp simulator (required)")
	rootKey := flag.String("root-key", "", "the simulator's Noise root public key, hex (required)")
	flag.Parse()
	if *dbURI == "" || *dial == "" || *rootKey == "" {
		fmt.Fprintln(os.Stderr, "wafloor: -db, -dial and -root-key are required")
		flag.Usage()
		os.Exit(2)
	}
	log := zerolog.New(os.Stderr).With().Timestamp().Logger().Level(zerolog.InfoLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *dbURI, config.WhatsAppConfig{DialAddress: *dial, PlainHTTP: true, NoiseRootPubkey: *rootKey}); err != nil {
		log.Error().Err(err).Msg("wafloor failed")
		os.Exit(1)
	}
}

// output writes the protocol's lines; whatsmeow's handlers and the senders write concurrently.
type output struct {
	lock sync.Mutex
	w    *bufio.Writer
}

func (o *output) line(kind, text string) {
	o.lock.Lock()
	defer o.lock.Unlock()
	_, _ = o.w.WriteString(kind + " " + text + "\n")
	_ = o.w.Flush()
}

func run(ctx context.Context, log zerolog.Logger, dbURI string, cfg config.WhatsAppConfig) error {
	out := &output{w: bufio.NewWriter(os.Stdout)}
	// The pool sizes of a default config (database.max_open_conns: 20, max_idle_conns as many).
	db, err := database.Open(ctx, "postgres", dbURI, 20, 20, log)
	if err != nil {
		return err
	}
	defer db.Close()
	if err = db.Upgrade(ctx); err != nil {
		return err
	}
	if err = whatsapp.Configure(cfg, log); err != nil {
		return err
	}
	websocket, media, err := whatsapp.Transport(cfg, whatsapp.MediaLimit{})
	if err != nil {
		return err
	}
	h := &handler{out: out, ready: make(chan struct{})}
	login := whatsapp.NewLogin(whatsapp.Options{
		Background: ctx, Log: log, Store: db.WhatsmeowContainer(), StoreDB: db.DB,
		Websocket: websocket, Media: media, Handler: h,
		// As the bridge with its default whatsapp.resend_window_hours.
		KeepSentMessages: true,
	})
	defer login.Shutdown()
	if err = pair(ctx, login, out); err != nil {
		out.line("error", err.Error())
		return err
	}
	select {
	case <-h.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	out.line("ready", login.JID().String())
	return serve(ctx, login, out)
}

// pair links the login as a new device by QR code, printing each code.
func pair(ctx context.Context, login *whatsapp.Login, out *output) error {
	flow, err := login.Pair(ctx, "")
	if err != nil {
		return err
	}
	defer flow.Cancel()
	for {
		step, err := flow.Next(ctx)
		if err != nil {
			return err
		}
		switch step.Kind {
		case whatsapp.StepQR:
			out.line("qr", step.Code)
		case whatsapp.StepSuccess:
			return nil
		case whatsapp.StepFailed:
			return fmt.Errorf("pairing failed: %w", step.Err)
		default:
			return fmt.Errorf("unexpected pairing step %v", step.Kind)
		}
	}
}

// serve reads send commands until standard input closes.
func serve(ctx context.Context, login *whatsapp.Login, out *output) error {
	queues := make(map[types.JID]chan string)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer func() {
		for _, q := range queues {
			close(q)
		}
	}()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64*1024), 1024*1024)
	for in.Scan() {
		cmd, rest, _ := strings.Cut(in.Text(), " ")
		if cmd != "send" {
			out.line("error", fmt.Sprintf("unknown command %q", cmd))
			continue
		}
		to, text, _ := strings.Cut(rest, " ")
		jid, err := types.ParseJID(to)
		if err != nil {
			out.line("error", fmt.Sprintf("bad JID %q: %v", to, err))
			continue
		}
		q, ok := queues[jid]
		if !ok {
			q = make(chan string, 100_000)
			queues[jid] = q
			wg.Go(func() {
				for text := range q {
					cli := login.ConnectedClient()
					if cli == nil {
						out.line("error", "not connected")
						continue
					}
					msg := &waE2E.Message{Conversation: proto.String(text)}
					if _, err := (whatsapp.LeaseEndingClient{Client: cli}).SendMessage(ctx, jid, msg); err != nil {
						out.line("error", fmt.Sprintf("send to %s: %v", jid, err))
					}
				}
			})
		}
		q <- text
	}
	return in.Err()
}

// handler is the login's event handler: it reports text messages and accepts everything else.
type handler struct {
	out       *output
	ready     chan struct{}
	readyOnce sync.Once
}

func (h *handler) HandleMessage(_ context.Context, evt *events.Message) error {
	text := evt.Message.GetConversation()
	if text == "" {
		text = evt.Message.GetExtendedTextMessage().GetText()
	}
	if text != "" {
		h.out.line("recv", strconv.Quote(text))
	}
	return nil
}

func (h *handler) Connected(context.Context) { h.readyOnce.Do(func() { close(h.ready) }) }

func (h *handler) HandleGroupInfo(context.Context, *events.GroupInfo) error        { return nil }
func (h *handler) HandleJoinedGroup(context.Context, *events.JoinedGroup) error    { return nil }
func (h *handler) HandleReceipt(context.Context, *events.Receipt) error            { return nil }
func (h *handler) HandleChatPresence(context.Context, *events.ChatPresence) error  { return nil }
func (h *handler) HandlePicture(context.Context, *events.Picture) error            { return nil }
func (h *handler) HandlePushName(context.Context, *events.PushName) error          { return nil }
func (h *handler) HandleMediaRetry(context.Context, *events.MediaRetry) error      { return nil }
func (h *handler) HandleCall(context.Context, any) error                           { return nil }
func (h *handler) LoggedOut(context.Context, string)                               {}
func (h *handler) Alert(context.Context, whatsapp.Alert)                           {}
func (h *handler) HandleHistorySync(context.Context, *whatsapp.HistoryChunk) error { return nil }
func (h *handler) HandleUndecryptable(context.Context, *events.UndecryptableMessage) error {
	return nil
}
