package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// JSClient is a Matrix user's device on matrix-js-sdk with its Rust crypto (the WASM build of
// matrix-sdk-crypto that Element Web runs), in a node process (jsclient/client.mjs). It logs in as
// a new device with the user's password, syncs, decrypts what arrives and encrypts what it sends
// in encrypted rooms, all inside the SDK; the test drives it with requests and reads the events it
// reports. Its log (the SDK's) is printed when the test fails.
type JSClient struct {
	UserID   id.UserID
	DeviceID id.DeviceID

	env     *Env
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	logPath string
	exited  chan struct{}

	lock    sync.Mutex
	nextID  int
	pending map[int]chan jsAnswer
	events  []*JSEvent
	changed chan struct{}
	waitErr error
}

// JSEvent is a timeline event as the js-sdk client reports it: the clear type and content when it
// decrypted the event.
type JSEvent struct {
	RoomID    id.RoomID       `json:"room_id"`
	ID        id.EventID      `json:"event_id"`
	Sender    id.UserID       `json:"sender"`
	Type      string          `json:"type"`
	Content   json.RawMessage `json:"content"`
	Encrypted bool            `json:"encrypted"`
	// DecryptionFailure is the SDK's reason when the event could not be decrypted.
	DecryptionFailure string `json:"decryption_failure"`
	// Shield is what the client shows beside an encrypted event: colour 0 none, 1 grey, 2 red;
	// reason as matrix-js-sdk's EventShieldReason (nil without one).
	Shield *struct {
		Colour int  `json:"colour"`
		Reason *int `json:"reason"`
	} `json:"shield"`
	Redacts id.EventID `json:"redacts"`
}

// Event returns the event as a mautrix event with its content parsed (Mautrix.WasEncrypted set when
// it came encrypted), for the matchers the other tests use.
func (e *JSEvent) Event() *event.Event {
	evt := &event.Event{RoomID: e.RoomID, ID: e.ID, Sender: e.Sender, Type: event.Type{Type: e.Type, Class: event.MessageEventType}, Redacts: e.Redacts}
	_ = json.Unmarshal(e.Content, &evt.Content)
	_ = evt.Content.ParseRaw(evt.Type)
	evt.Mautrix.WasEncrypted = e.Encrypted
	return evt
}

type jsAnswer struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
}

type jsLine struct {
	jsAnswer
	Ready *struct {
		DeviceID id.DeviceID `json:"device_id"`
	} `json:"ready"`
	Event *JSEvent `json:"event"`
}

// jsReadyWait is how long the js-sdk client may take to log in, set up its crypto and sync.
const jsReadyWait = 2 * time.Minute

// NewJSClient starts a js-sdk client for user (registered by NewUser) as a new device named name,
// installing the npm packages first when needed (EnsureJSClient). It returns once the client's
// first sync is done; it is stopped when the test ends.
func (e *Env) NewJSClient(t testing.TB, user id.UserID, name string) *JSClient {
	t.Helper()
	script, err := EnsureJSClient()
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	c := &JSClient{
		UserID:  user,
		env:     e,
		logPath: filepath.Join(e.dir, "jsclient-"+strings.NewReplacer("@", "", ":", "_", " ", "_", "'", "").Replace(user.String()+"-"+name)+".log"),
		exited:  make(chan struct{}),
		pending: make(map[int]chan jsAnswer),
		changed: make(chan struct{}),
	}
	logFile, err := os.Create(c.logPath)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command("node", script)
	c.cmd.Env = append(os.Environ(),
		"MX_HOMESERVER="+e.dendrite.url(), "MX_USER="+user.String(), "MX_PASSWORD="+e.Password(user), "MX_DEVICE_NAME="+name)
	c.cmd.Stderr = logFile
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err = c.cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("e2e: failed to start the js-sdk client: %v", err)
	}
	ready := make(chan id.DeviceID, 1)
	go c.read(stdout, ready)
	go func() {
		err := c.cmd.Wait()
		_ = logFile.Close()
		c.lock.Lock()
		c.waitErr = err
		c.notifyLocked()
		c.lock.Unlock()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("e2e: last %d lines of the js-sdk client's log %s:\n%s", logTailLines, c.logPath, TailFile(c.logPath, logTailLines))
		}
	})
	select {
	case c.DeviceID = <-ready:
	case <-c.exited:
		t.Fatalf("e2e: the js-sdk client of %s exited before its first sync (%v); its log:\n%s", user, c.exitErr(), TailFile(c.logPath, logTailLines))
	case <-time.After(jsReadyWait):
		t.Fatalf("e2e: the js-sdk client of %s did not finish its first sync in %s; its log:\n%s", user, jsReadyWait, TailFile(c.logPath, logTailLines))
	}
	return c
}

// read takes the client's stdout: answers, events and the ready line.
func (c *JSClient) read(stdout io.Reader, ready chan<- id.DeviceID) {
	scanner := bufio.NewScanner(stdout)
	scanner.Buffer(make([]byte, 0, 64*1024), 64<<20)
	for scanner.Scan() {
		var line jsLine
		if err := json.Unmarshal(scanner.Bytes(), &line); err != nil {
			continue
		}
		switch {
		case line.Ready != nil:
			ready <- line.Ready.DeviceID
		case line.Event != nil:
			c.lock.Lock()
			c.events = append(c.events, line.Event)
			c.notifyLocked()
			c.lock.Unlock()
		default:
			c.lock.Lock()
			answer := c.pending[line.ID]
			delete(c.pending, line.ID)
			c.lock.Unlock()
			if answer != nil {
				answer <- line.jsAnswer
			}
		}
	}
}

func (c *JSClient) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *JSClient) exitErr() error {
	c.lock.Lock()
	defer c.lock.Unlock()
	if c.waitErr == nil {
		return errors.New("exit status 0")
	}
	return c.waitErr
}

// stop closes the client's stdin (it stops syncing and exits) and kills it when it does not.
func (c *JSClient) stop() {
	_ = c.stdin.Close()
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.exited
	}
}

// Call sends the request op with args to the client and decodes its answer into result (may be
// nil). An error is the SDK's (with its stack) or the client's exit.
func (c *JSClient) Call(ctx context.Context, op string, args map[string]any, result any) error {
	req := map[string]any{"op": op}
	for k, v := range args {
		req[k] = v
	}
	answer := make(chan jsAnswer, 1)
	c.lock.Lock()
	c.nextID++
	req["id"] = c.nextID
	c.pending[c.nextID] = answer
	c.lock.Unlock()
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err = c.stdin.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("js-sdk client %s: failed to send %s: %w", c.DeviceID, op, err)
	}
	select {
	case a := <-answer:
		if a.Error != "" {
			return fmt.Errorf("js-sdk client %s: %s failed: %s", c.DeviceID, op, a.Error)
		}
		if result != nil {
			return json.Unmarshal(a.Result, result)
		}
		return nil
	case <-c.exited:
		return fmt.Errorf("js-sdk client %s exited during %s (%v); its log:\n%s", c.DeviceID, op, c.exitErr(), TailFile(c.logPath, 30))
	case <-ctx.Done():
		return fmt.Errorf("js-sdk client %s: %s: %w", c.DeviceID, op, ctx.Err())
	}
}

// Join joins roomID (accepting an invite).
func (c *JSClient) Join(ctx context.Context, roomID id.RoomID) error {
	return c.Call(ctx, "join", map[string]any{"room": roomID}, nil)
}

// Send sends an event of type evtType with content to roomID, encrypted by the SDK when the room
// is encrypted.
func (c *JSClient) Send(ctx context.Context, roomID id.RoomID, evtType event.Type, content any) (id.EventID, error) {
	var resp struct {
		EventID id.EventID `json:"event_id"`
	}
	err := c.Call(ctx, "send", map[string]any{"room": roomID, "type": evtType.Type, "content": content}, &resp)
	return resp.EventID, err
}

// SendImage uploads data as an encrypted file (as Element does in encrypted rooms) and sends it as
// an m.image named name.
func (c *JSClient) SendImage(ctx context.Context, roomID id.RoomID, data []byte, mimeType, name string) (id.EventID, error) {
	var resp struct {
		EventID id.EventID `json:"event_id"`
	}
	err := c.Call(ctx, "send_image", map[string]any{
		"room": roomID, "data": base64.StdEncoding.EncodeToString(data), "mimetype": mimeType, "name": name,
	}, &resp)
	return resp.EventID, err
}

// DownloadFile downloads an encrypted file, checks its hash and decrypts it as the SDK's user does.
func (c *JSClient) DownloadFile(ctx context.Context, file *event.EncryptedFileInfo) ([]byte, error) {
	var resp struct {
		Data []byte `json:"data"`
	}
	err := c.Call(ctx, "download_file", map[string]any{"file": file}, &resp)
	return resp.Data, err
}

// RoomEncrypted reports whether the client encrypts what it sends in roomID.
func (c *JSClient) RoomEncrypted(ctx context.Context, roomID id.RoomID) (bool, error) {
	var resp struct {
		Encrypted bool `json:"encrypted"`
	}
	err := c.Call(ctx, "room_encrypted", map[string]any{"room": roomID}, &resp)
	return resp.Encrypted, err
}

// JSDeviceStatus is how the client trusts a device (matrix-js-sdk's DeviceVerificationStatus).
type JSDeviceStatus struct {
	Known                bool `json:"known"`
	SignedByOwner        bool `json:"signed_by_owner"`
	CrossSigningVerified bool `json:"cross_signing_verified"`
	LocallyVerified      bool `json:"locally_verified"`
}

// DeviceStatus returns how the client trusts device of user.
func (c *JSClient) DeviceStatus(ctx context.Context, user id.UserID, device id.DeviceID) (JSDeviceStatus, error) {
	var resp JSDeviceStatus
	err := c.Call(ctx, "device_status", map[string]any{"user": user, "device": device}, &resp)
	return resp, err
}

// Events returns the timeline events of roomID the client has reported so far, in the order it
// first saw them, each as last reported (an event it failed to decrypt at first and decrypted
// later appears decrypted).
func (c *JSClient) Events(roomID id.RoomID) []*JSEvent {
	c.lock.Lock()
	defer c.lock.Unlock()
	index := make(map[id.EventID]int)
	var out []*JSEvent
	for _, evt := range c.events {
		if evt.RoomID != roomID {
			continue
		}
		if i, seen := index[evt.ID]; seen {
			out[i] = evt
			continue
		}
		index[evt.ID] = len(out)
		out = append(out, evt)
	}
	return out
}

// WaitFor waits until the client has reported an event of roomID for which match returns true and
// returns the latest such event. The test fails at ctx's deadline (DefaultWait when ctx has none)
// or when the client exits, listing what the client saw and why it could not decrypt.
func (c *JSClient) WaitFor(ctx context.Context, roomID id.RoomID, match func(*JSEvent) bool) *JSEvent {
	c.env.t.Helper()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWait)
		defer cancel()
	}
	for {
		c.lock.Lock()
		var found *JSEvent
		var seen []*JSEvent
		for _, evt := range c.events {
			if evt.RoomID == roomID {
				seen = append(seen, evt)
				if match(evt) {
					found = evt
				}
			}
		}
		changed := c.changed
		c.lock.Unlock()
		if found != nil {
			return found
		}
		select {
		case <-changed:
			continue
		case <-c.exited:
			c.env.t.Fatalf("e2e: the js-sdk client %s (%s) exited (%v) waiting for an event in %s; latest events:\n%s\nits log:\n%s",
				c.UserID, c.DeviceID, c.exitErr(), roomID, describeJSEvents(seen, 15), TailFile(c.logPath, 30))
		case <-ctx.Done():
			c.env.t.Fatalf("e2e: the js-sdk client %s (%s) never saw the expected event in %s; latest events:\n%s%s",
				c.UserID, c.DeviceID, roomID, describeJSEvents(seen, 15), c.env.processProblems())
		}
		return nil
	}
}

// WaitMessage waits for a message the client decrypted, matched as a mautrix event.
func (c *JSClient) WaitMessage(ctx context.Context, roomID id.RoomID, match func(*event.Event) bool) *JSEvent {
	c.env.t.Helper()
	return c.WaitFor(ctx, roomID, func(e *JSEvent) bool { return match(e.Event()) })
}

func describeJSEvents(events []*JSEvent, n int) string {
	if len(events) > n {
		events = events[len(events)-n:]
	}
	if len(events) == 0 {
		return "  (none)"
	}
	var b strings.Builder
	for _, evt := range events {
		fmt.Fprintf(&b, "  %s %s from %s encrypted=%v", evt.ID, evt.Type, evt.Sender, evt.Encrypted)
		if evt.DecryptionFailure != "" {
			fmt.Fprintf(&b, " decryption failed: %s", evt.DecryptionFailure)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
