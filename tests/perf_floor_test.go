package tests

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// waFloor is the benchmark's WhatsApp floor, a running internal/e2e/wafloor: one WhatsApp login as
// the bridge runs it (whatsmeow, the bridge's PostgreSQL store and its wrappers, in a database of
// its own), linked to an account of the simulator, doing nothing with what it receives. Its CPU and
// its database's CPU per message are what keeping the WhatsApp side of a chat costs, whatever a
// bridge does with the messages.
type waFloor struct {
	acct     *wasim.Account
	jid      types.JID
	pid      int
	db       *pgBackends
	arrivals e2e.Arrivals

	inLock sync.Mutex
	stdin  io.WriteCloser

	// failed is closed on the first "error" line; failure holds that line.
	failLock sync.Mutex
	failure  string
	failed   chan struct{}
}

// startWAFloor builds and starts the floor, links it to a new simulator account with phone number
// phone (its phone scans the floor's QR code) and returns once it is connected.
func startWAFloor(t testing.TB, ctx context.Context, env *waEnv, phone string) *waFloor {
	t.Helper()
	bin, err := e2e.Binary("./internal/e2e/wafloor")
	if err != nil {
		t.Fatal(err)
	}
	uri := testdb.NewPostgres(t)
	acct, err := env.WA.CreateAccount(ctx, phone, "Floor")
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "wafloor.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", uri, "-dial", env.WA.Addr(), "-root-key", env.WA.RootPublicKeyHex())
	cmd.Stderr = logFile
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err = cmd.Start(); err != nil {
		t.Fatalf("failed to start the WhatsApp floor: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = stdin.Close() // it ends when its input does
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logFile.Close()
		if t.Failed() {
			t.Logf("WhatsApp floor log (last lines):\n%s", e2e.TailFile(logPath, 30))
		}
	})
	f := &waFloor{acct: acct, pid: cmd.Process.Pid, db: openPGBackends(t, uri), stdin: stdin, failed: make(chan struct{})}
	ready := make(chan types.JID, 1)
	go f.read(ctx, stdout, ready)
	select {
	case f.jid = <-ready:
	case <-f.failed:
		t.Fatalf("the WhatsApp floor failed to link: %s\n%s", f.failure, e2e.TailFile(logPath, 30))
	case <-exited:
		t.Fatalf("the WhatsApp floor exited before it was linked:\n%s", e2e.TailFile(logPath, 30))
	case <-time.After(90 * time.Second):
		t.Fatalf("the WhatsApp floor was not linked within 90 s:\n%s", e2e.TailFile(logPath, 30))
	}
	return f
}

// read handles the floor's output lines: it has the account's phone scan the first QR code,
// reports readiness, records arrivals and errors.
func (f *waFloor) read(ctx context.Context, stdout io.Reader, ready chan<- types.JID) {
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 64*1024), 1024*1024)
	scanned := false
	for lines.Scan() {
		kind, rest, _ := strings.Cut(lines.Text(), " ")
		switch kind {
		case "qr":
			if !scanned {
				scanned = true
				go func() {
					if err := f.acct.ScanQR(ctx, rest); err != nil {
						f.fail("scanning the QR code: " + err.Error())
					}
				}()
			}
		case "ready":
			jid, err := types.ParseJID(rest)
			if err != nil {
				f.fail(fmt.Sprintf("ready with a bad JID %q", rest))
				continue
			}
			ready <- jid.ToNonAD()
		case "recv":
			text, err := strconv.Unquote(rest)
			if err != nil {
				f.fail(fmt.Sprintf("bad recv line %q", rest))
				continue
			}
			f.arrivals.Record(time.Now(), text)
		case "error":
			f.fail(rest)
		}
	}
}

func (f *waFloor) fail(msg string) {
	f.failLock.Lock()
	defer f.failLock.Unlock()
	if f.failure == "" {
		f.failure = msg
		close(f.failed)
	}
}

// send has the floor send text to a user; a chat's texts go out in the order given.
func (f *waFloor) send(to types.JID, text string) error {
	if strings.ContainsAny(text, "\r\n") {
		return errors.New("the floor sends single-line texts only")
	}
	f.inLock.Lock()
	defer f.inLock.Unlock()
	_, err := io.WriteString(f.stdin, "send "+to.String()+" "+text+"\n")
	return err
}

// wait returns when every body reached the floor, failing early on an error the floor reported.
func (f *waFloor) wait(ctx context.Context, bodies []string) ([]time.Time, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-f.failed:
			cancel(errors.New("the WhatsApp floor reported: " + f.failure))
		case <-ctx.Done():
		}
	}()
	times, err := f.arrivals.Wait(ctx, bodies, "the WhatsApp floor")
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return times, cause
	}
	return times, err
}

// warmUp has every portal's contact and the floor exchange a message, so that the Signal sessions
// both ways exist before anything is measured, as they do for the bridge's portals.
func (f *waFloor) warmUp(t testing.TB, ctx context.Context, pe *perfEnv, portals []*perfPortal) {
	t.Helper()
	var toFloor, fromFloor []string
	for i, p := range portals {
		body := fmt.Sprintf("floor hello %d", i)
		if _, err := p.contact.SendText(ctx, f.jid, body); err != nil {
			t.Fatal(err)
		}
		toFloor = append(toFloor, body)
		back := fmt.Sprintf("floor hello back %d", i)
		if err := f.send(p.contact.JID(), back); err != nil {
			t.Fatal(err)
		}
		fromFloor = append(fromFloor, back)
	}
	if _, err := f.wait(ctx, toFloor); err != nil {
		t.Fatal(err)
	}
	pe.waitWA(t, ctx, fromFloor...)
}
