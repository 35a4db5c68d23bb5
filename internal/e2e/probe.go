package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Probe is a minimal appservice (an in-process HTTP server) that does nothing but record when each
// message body reached it, and whose ghosts (@probe_*) can send. It measures what the homeserver
// alone achieves in both directions a bridge works in: a Matrix user's message pushed to an
// appservice, and an appservice ghost's message reaching a Matrix user.
type Probe struct {
	server           *httptest.Server
	registrationPath string
	asToken          string
	hsToken          string

	arrivals Arrivals
}

// ProbeLocalpartPrefix starts the localpart of every probe ghost.
const ProbeLocalpartPrefix = "probe_"

// NewProbe starts the probe's HTTP server and writes its registration into t's temporary folder;
// list it in the homeserver's config with AddTo (e.g. from Options.DendriteConfig).
func NewProbe(t testing.TB) *Probe {
	t.Helper()
	p := &Probe{asToken: randomHex(16), hsToken: randomHex(16)}
	p.server = httptest.NewServer(p)
	t.Cleanup(p.server.Close)
	p.registrationPath = filepath.Join(t.TempDir(), "probe-registration.yaml")
	registration := map[string]any{
		"id":               "ceiling-probe",
		"url":              p.server.URL,
		"as_token":         p.asToken,
		"hs_token":         p.hsToken,
		"sender_localpart": "probebot",
		"rate_limited":     false,
		"namespaces": map[string]any{
			"users": []map[string]any{{"exclusive": true, "regex": "@" + ProbeLocalpartPrefix + ".*:" + Domain}},
		},
	}
	if err := writeYAML(p.registrationPath, registration); err != nil {
		t.Fatalf("e2e: %v", err)
	}
	return p
}

// AddTo lists the probe's registration in a Dendrite config, besides the ones already there.
func (p *Probe) AddTo(cfg map[string]any) {
	files, _ := GetConfig(cfg, "app_service_api.config_files").([]string)
	if files == nil {
		for _, f := range asSlice(GetConfig(cfg, "app_service_api.config_files")) {
			if s, ok := f.(string); ok {
				files = append(files, s)
			}
		}
	}
	SetConfig(cfg, "app_service_api.config_files", append(files, p.registrationPath))
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// Ghost registers @probe_<name> (when new) and returns a client acting as it with the probe's
// appservice token.
func (p *Probe) Ghost(ctx context.Context, env *Env, name string) (*mautrix.Client, error) {
	userID := id.NewUserID(ProbeLocalpartPrefix+name, Domain)
	client, err := mautrix.NewClient(env.HomeserverURL(), userID, p.asToken)
	if err != nil {
		return nil, err
	}
	client.SetAppServiceUserID = true
	client.Client.Transport = pooledTransport
	_, _, err = client.Register(ctx, &mautrix.ReqRegister[any]{Username: ProbeLocalpartPrefix + name, Type: mautrix.AuthTypeAppservice, InhibitLogin: true})
	if err != nil && !isUserInUse(err) {
		return nil, fmt.Errorf("failed to register %s: %w", userID, err)
	}
	return client, nil
}

func isUserInUse(err error) bool { return errors.Is(err, mautrix.MUserInUse) }

// Bot returns a client acting as the probe's own bot user.
func (p *Probe) Bot(env *Env) (*mautrix.Client, error) {
	client, err := mautrix.NewClient(env.HomeserverURL(), id.NewUserID("probebot", Domain), p.asToken)
	if err != nil {
		return nil, err
	}
	client.SetAppServiceUserID = true
	client.Client.Transport = pooledTransport
	return client, nil
}

// ServeHTTP accepts every transaction (and answers every other appservice request with 200).
func (p *Probe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	var txn struct {
		Events []*event.Event `json:"events"`
	}
	if r.Method == http.MethodPut && json.NewDecoder(r.Body).Decode(&txn) == nil {
		var bodies []string
		for _, evt := range txn.Events {
			if body, _ := evt.Content.Raw["body"].(string); body != "" {
				bodies = append(bodies, body)
			}
		}
		p.arrivals.Record(now, bodies...)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}"))
}

// WaitBodies waits until a message with each body has reached the probe and returns the arrival
// times in the same order.
func (p *Probe) WaitBodies(ctx context.Context, bodies []string) ([]time.Time, error) {
	return p.arrivals.Wait(ctx, bodies, "the probe appservice")
}
