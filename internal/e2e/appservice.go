package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Transaction is what a homeserver PUTs to an appservice. Dendrite does not deliver redactions,
// ephemeral events (typing, receipts, presence) or to-device events to appservices, so tests of those
// paths post them to the bridge themselves, exactly as a homeserver that does would.
type Transaction struct {
	// Events are room events (timeline and state), as in the homeserver's "events" field.
	Events []*event.Event `json:"events"`
	// Ephemeral events (m.typing, m.receipt, m.presence), sent both in the stable field and in
	// MSC2409's field.
	Ephemeral []*event.Event `json:"ephemeral,omitempty"`
	// ToDevice events, sent in MSC2409's to-device field.
	ToDevice []*event.Event `json:"de.sorunome.msc2409.to_device,omitempty"`
}

// MarshalJSON writes the ephemeral events under both the stable and the MSC2409 key.
func (txn Transaction) MarshalJSON() ([]byte, error) {
	type plain Transaction
	return json.Marshal(struct {
		plain
		UnstableEphemeral []*event.Event `json:"de.sorunome.msc2409.ephemeral,omitempty"`
	}{plain(txn), txn.Ephemeral})
}

// SendTransaction PUTs txn to the bridge as transaction txnID with the hs_token, as the homeserver
// would, and returns an error unless the bridge answers 200.
func (e *Env) SendTransaction(ctx context.Context, txnID string, txn Transaction) error {
	e.requireBridge()
	if txn.Events == nil {
		txn.Events = []*event.Event{}
	}
	body, err := json.Marshal(txn)
	if err != nil {
		return fmt.Errorf("failed to encode transaction: %w", err)
	}
	target := e.bridge.url() + "/_matrix/app/v1/transactions/" + url.PathEscape(txnID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.bridge.hsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("failed to send transaction %s: %w", txnID, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bridge answered transaction %s with %d: %s", txnID, resp.StatusCode, answer)
	}
	return nil
}

// AppserviceClient returns a client that acts with the as_token as userID (the bot, or a ghost in the
// bridge's namespace) through ?user_id= identity assertion, to look at Matrix as the bridge sees it.
func (e *Env) AppserviceClient(t testing.TB, userID id.UserID) *mautrix.Client {
	t.Helper()
	e.requireBridge()
	client, err := mautrix.NewClient(e.dendrite.url(), userID, e.bridge.asToken)
	if err != nil {
		t.Fatalf("e2e: failed to create appservice client: %v", err)
	}
	client.SetAppServiceUserID = true
	return client
}
