//go:build goolm

package encryption

import (
	"context"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestRestartedAccountUsedConcurrently: after a restart, the bot's Olm account (read back from the
// crypto store) is used at once by the inbox worker decrypting Megolm events, the bot's /sync
// decrypting Olm messages and ghosts encrypting. Each asks the account for its public keys; under
// the race detector this test fails when the first of those calls writes them (a data race seen in
// an end-to-end run with a restarted bridge). The keys must also be the ones stored before.
func TestRestartedAccountUsedConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := database.Open(ctx, string(testdb.SQLite), testdb.New(t, testdb.SQLite), 4, 2, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	newHelper := func() *Helper {
		store := crypto.NewSQLCryptoStore(db.TextParamsDB(), dbutil.ZeroLogger(zerolog.Nop()), cryptoAccountID, "DEVICE", []byte("pickle key"))
		if err := store.DB.Upgrade(ctx); err != nil {
			t.Fatal(err)
		}
		client, err := mautrix.NewClient("http://127.0.0.1:1", "@whatsappbot:example.org", "")
		if err != nil {
			t.Fatal(err)
		}
		h := &Helper{store: store, client: client}
		h.mach = crypto.NewOlmMachine(client, nil, store, nil)
		if err := h.loadAccount(ctx); err != nil {
			t.Fatal(err)
		}
		return h
	}

	first := newHelper() // the first start: a new account, stored
	if err = first.store.PutAccount(ctx, first.mach.GetAccount()); err != nil {
		t.Fatal(err)
	}
	wantSigning, wantIdentity := first.mach.GetAccount().Keys()

	restarted := newHelper()
	account := restarted.mach.GetAccount()
	var wg sync.WaitGroup
	got := make([][2]string, 3)
	for i, keysOf := range []func() (id.SigningKey, id.IdentityKey){
		account.Keys, // Megolm decryption's trust check
		func() (id.SigningKey, id.IdentityKey) { return "", account.IdentityKey() }, // Olm decryption, encryption
		func() (id.SigningKey, id.IdentityKey) { return account.SigningKey(), "" },  // Olm encryption
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			signing, identity := keysOf()
			got[i] = [2]string{string(signing), string(identity)}
		}()
	}
	wg.Wait()
	if got[0] != [2]string{string(wantSigning), string(wantIdentity)} || got[1][1] != string(wantIdentity) || got[2][0] != string(wantSigning) {
		t.Errorf("the restarted account has keys %v, want signing %s, identity %s", got, wantSigning, wantIdentity)
	}
}
