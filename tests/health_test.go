package tests

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	_ "github.com/lib/pq" // PostgreSQL driver

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// healthAnswer is the body of /_matrix/mau/ready (and live).
type healthAnswer struct {
	status  int
	ErrCode string            `json:"errcode"`
	Error   string            `json:"error"`
	Checks  map[string]string `json:"checks"`
}

func getHealth(ctx context.Context, url string) (healthAnswer, error) {
	var out healthAnswer
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return out, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	out.status = resp.StatusCode
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// waitHealth polls url until match accepts the answer, failing the test with the last one when
// ctx ends first.
func waitHealth(t *testing.T, ctx context.Context, url, what string, match func(healthAnswer) bool) healthAnswer {
	t.Helper()
	var last healthAnswer
	var err error
	for {
		if last, err = getHealth(ctx, url); err == nil && match(last) {
			return last
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never showed %s; last answer %+v (error %v)", url, what, last, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestReadyFollowsDatabaseAndHomeserver checks the health endpoints on the appservice port: ready
// while everything works, not ready (503 M_NOT_READY naming the failed check) while the bridge's
// own PostgreSQL database refuses connections or the homeserver is down, ready again when they are
// back, and live throughout. Only this test's private database is blocked, never the server.
func TestReadyFollowsDatabaseAndHomeserver(t *testing.T) {
	t.Parallel()
	env := e2e.New(t, e2e.Options{Database: testdb.Postgres})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	live, ready := env.BridgeURL()+"/_matrix/mau/live", env.BridgeURL()+"/_matrix/mau/ready"
	allOK := func(a healthAnswer) bool {
		return a.status == http.StatusOK && a.Checks["database"] == "ok" && a.Checks["homeserver"] == "ok" && a.Checks["inbox"] == "ok"
	}
	waitHealth(t, ctx, ready, "ready with every check ok", allOK)

	// Block new connections to the bridge's database and end the open ones.
	dbURI, err := url.Parse(env.DatabaseURI())
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(dbURI.Path, "/")
	adminURI := *dbURI
	adminURI.Path = "/postgres"
	admin, err := sql.Open("postgres", adminURI.String())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	block := func(blocked bool) {
		t.Helper()
		allow := "true"
		if blocked {
			allow = "false"
		}
		if _, err := admin.ExecContext(ctx, `ALTER DATABASE "`+dbName+`" ALLOW_CONNECTIONS `+allow); err != nil {
			t.Fatal(err)
		}
		if blocked {
			if _, err := admin.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, dbName); err != nil {
				t.Fatal(err)
			}
		}
	}
	block(true)
	t.Cleanup(func() { _, _ = admin.Exec(`ALTER DATABASE "` + dbName + `" ALLOW_CONNECTIONS true`) })
	got := waitHealth(t, ctx, ready, "not ready because of the database", func(a healthAnswer) bool {
		return a.status == http.StatusServiceUnavailable && a.Checks["database"] != "ok" && a.Checks["database"] != ""
	})
	if got.ErrCode != "M_NOT_READY" || !strings.Contains(got.Error, "database") {
		t.Errorf("not-ready answer = %+v, want M_NOT_READY naming the database", got)
	}
	if got.Checks["homeserver"] != "ok" {
		t.Errorf("homeserver check = %q while only the database is down", got.Checks["homeserver"])
	}
	if a, err := getHealth(ctx, live); err != nil || a.status != http.StatusOK {
		t.Errorf("live while the database is down: %+v, %v; want 200", a, err)
	}
	block(false)
	waitHealth(t, ctx, ready, "ready again after the database came back", allOK)

	// The homeserver goes away and comes back.
	env.StopDendrite()
	got = waitHealth(t, ctx, ready, "not ready because of the homeserver", func(a healthAnswer) bool {
		return a.status == http.StatusServiceUnavailable && a.Checks["homeserver"] != "ok" && a.Checks["homeserver"] != ""
	})
	if got.Checks["database"] != "ok" || !strings.Contains(got.Error, "homeserver") {
		t.Errorf("not-ready answer = %+v, want only the homeserver named", got)
	}
	env.StartDendrite()
	waitHealth(t, ctx, ready, "ready again after the homeserver came back", allOK)
}
