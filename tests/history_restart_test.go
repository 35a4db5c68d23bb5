package tests

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestHistorySurvivesRestart: the phone sends the bootstrap and two of three later history chunks,
// the bridge stops before the last one, the phone sends it while the bridge is down; after the
// restart every chat's history is in its room, each message once, and the summary comes.
func TestHistorySurvivesRestart(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	env := newWAEnv(t, testdb.Postgres, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	acct, err := env.WA.CreateAccount(ctx, "4915112400201", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	const chats, perChat = 4, 6
	jids, err := acct.SeedHistory(wasim.SeedOptions{Chats: chats, Messages: perChat, Span: 24 * time.Hour, End: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// One chat in the bootstrap, the other three in three RECENT chunks of which the phone holds
	// the last back.
	acct.SetHistorySyncOptions(wasim.HistorySyncOptions{BootstrapChats: 1, ChunkMessages: perChat, HoldLast: true})
	alice := logInAccount(t, ctx, env, "alice", acct)

	db, err := sql.Open(string(env.DatabaseDialect()), env.DatabaseURI())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitFor(t, ctx, "the bridge to keep two history chunks", func() bool {
		var n int
		return db.QueryRowContext(ctx, "SELECT COUNT(*) FROM history_chunks").Scan(&n) == nil && n == 2
	})
	env.StopBridge()
	if err = acct.SendHeldHistory(ctx); err != nil {
		t.Fatal(err)
	}
	env.StartBridge()

	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Your history is here"))
	for i := chats; i >= 1; i-- {
		ghost := ghostOf(env, jids[i-1].User)
		room := joinPortal(t, ctx, env, alice.client, ghost)
		env.WaitForMessage(ctx, alice.client, room, fromGhost(ghost, fmt.Sprintf("Message 5 in chat %d", i)))
		counts := map[string]int{}
		for _, evt := range messagesOf(t, ctx, alice, room) {
			counts[evt.Content.AsMessage().Body]++
		}
		for k := 1; k <= perChat; k++ {
			if body := fmt.Sprintf("Message %d in chat %d", k, i); counts[body] != 1 {
				t.Errorf("chat %d shows %q %d times, want once", i, body, counts[body])
			}
		}
		if len(counts) != perChat {
			t.Errorf("chat %d has %d different messages, want %d", i, len(counts), perChat)
		}
	}
	var left int
	if err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM history_chunks").Scan(&left); err != nil || left != 0 {
		t.Errorf("%d history chunks still kept after the backfill (%v)", left, err)
	}
}
