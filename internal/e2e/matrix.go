package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// NewUser registers localpart with shared-secret registration (the homeserver allows no other) and
// returns a client logged in as that user.
func (e *Env) NewUser(t testing.TB, localpart string) *mautrix.Client {
	t.Helper()
	password := "pw-" + randomHex(12)
	client, err := e.register(e.ctx, localpart, password, false)
	if err != nil {
		t.Fatalf("e2e: failed to register %s: %v%s", localpart, err, e.processProblems())
	}
	e.passwords.Store(client.UserID, password)
	return client
}

// Password returns the password NewUser gave userID ("" for a user it did not register), e.g. to
// log in a second device.
func (e *Env) Password(userID id.UserID) string {
	password, _ := e.passwords.Load(userID)
	s, _ := password.(string)
	return s
}

// SetPassword gives userID (any local account, e.g. the bridge bot, which has none) the password
// password, as the homeserver's admin does: Dendrite's admin API
// POST /_dendrite/admin/resetPassword/{userID}, as an admin account registered for it. The user's
// devices stay logged in.
func (e *Env) SetPassword(t testing.TB, userID id.UserID, password string) {
	t.Helper()
	admin, err := e.register(e.ctx, "e2e-admin-"+randomHex(4), "pw-"+randomHex(12), true)
	if err != nil {
		t.Fatalf("e2e: failed to register an admin: %v%s", err, e.processProblems())
	}
	url := e.dendrite.url() + "/_dendrite/admin/resetPassword/" + userID.String()
	var resp struct {
		Updated bool `json:"password_updated"`
	}
	err = doJSONAuth(e.ctx, http.MethodPost, url, admin.AccessToken, map[string]any{"password": password, "logout_devices": false}, &resp)
	if err != nil || !resp.Updated {
		t.Fatalf("e2e: failed to set the password of %s (updated %v): %v", userID, resp.Updated, err)
	}
}

// register performs /_synapse/admin/v1/register: fetch a nonce, then post the account signed with an
// HMAC-SHA1 of nonce, username, password and admin flag under the shared secret.
func (e *Env) register(ctx context.Context, localpart, password string, admin bool) (*mautrix.Client, error) {
	endpoint := e.dendrite.url() + "/_synapse/admin/v1/register"
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	if err := doJSON(ctx, http.MethodGet, endpoint, nil, &nonce); err != nil {
		return nil, fmt.Errorf("failed to get registration nonce: %w", err)
	}
	mac := hmac.New(sha1.New, []byte(e.dendrite.sharedSecret))
	adminFlag := "notadmin"
	if admin {
		adminFlag = "admin"
	}
	mac.Write([]byte(strings.Join([]string{nonce.Nonce, localpart, password, adminFlag}, "\x00")))
	req := map[string]any{
		"nonce":    nonce.Nonce,
		"username": localpart,
		"password": password,
		"admin":    admin,
		"mac":      hex.EncodeToString(mac.Sum(nil)),
	}
	var resp struct {
		UserID      id.UserID   `json:"user_id"`
		AccessToken string      `json:"access_token"`
		DeviceID    id.DeviceID `json:"device_id"`
	}
	if err := doJSON(ctx, http.MethodPost, endpoint, req, &resp); err != nil {
		return nil, err
	}
	client, err := mautrix.NewClient(e.dendrite.url(), resp.UserID, resp.AccessToken)
	if err != nil {
		return nil, err
	}
	client.DeviceID = resp.DeviceID
	return client, nil
}

// doJSON sends body (when not nil) as JSON and decodes a 200 answer into out.
func doJSON(ctx context.Context, method, url string, body, out any) error {
	return doJSONAuth(ctx, method, url, "", body, out)
}

// doJSONAuth is doJSON with an access token (none when empty).
func doJSONAuth(ctx context.Context, method, url, token string, body, out any) error {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, reader)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s answered %d: %s", method, url, resp.StatusCode, data)
	}
	return json.Unmarshal(data, out)
}

// CreateDM creates a private direct chat of client with userID, marks it as direct in client's
// account data as a Matrix client would, and returns its room ID. It does not wait for userID to join.
func (e *Env) CreateDM(t testing.TB, client *mautrix.Client, userID id.UserID) id.RoomID {
	t.Helper()
	resp, err := client.CreateRoom(e.ctx, &mautrix.ReqCreateRoom{
		Invite:   []id.UserID{userID},
		Preset:   "trusted_private_chat",
		IsDirect: true,
	})
	if err != nil {
		t.Fatalf("e2e: %s failed to create a DM with %s: %v%s", client.UserID, userID, err, e.processProblems())
	}
	direct := event.DirectChatsEventContent{}
	if err = client.GetAccountData(e.ctx, event.AccountDataDirectChats.Type, &direct); err != nil && !errors.Is(err, mautrix.MNotFound) {
		t.Fatalf("e2e: failed to read m.direct of %s: %v", client.UserID, err)
	}
	direct[userID] = append(direct[userID], resp.RoomID)
	if err = client.SetAccountData(e.ctx, event.AccountDataDirectChats.Type, direct); err != nil {
		t.Fatalf("e2e: failed to write m.direct of %s: %v", client.UserID, err)
	}
	return resp.RoomID
}
