package sessionlock

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestNewMessagesAreNotLookedUp: on PostgreSQL whatsmeow's look-up of a new message's ciphertext
// in the decrypted-event buffer costs no round trip once the device's filter of stored hashes is
// built (one read, at the first look-up), while a message delivered again still finds what the
// buffer holds for it: stored by an earlier run of the bridge, by a decryption of this one, or
// cleared as handled.
func TestNewMessagesAreNotLookedUp(t *testing.T) {
	device, raw, counter := newDeviceFor(t, testdb.Postgres)
	ctx := context.Background()
	hash := func(i int) [32]byte { return sha256.Sum256(fmt.Appendf(nil, "ciphertext %d", i)) }
	lookUp := func(h [32]byte) (plaintext string, found bool, trips []string) {
		t.Helper()
		before := counter.count()
		evt, err := device.EventBuffer.GetBufferedEvent(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if evt == nil {
			return "", false, counter.since(before)
		}
		return string(evt.Plaintext), true, counter.since(before)
	}

	// Stored before this process: the raw store writes it as an earlier run would have.
	if err := raw.PutBufferedEvent(ctx, hash(0), []byte("from an earlier run"), time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	if _, found, trips := lookUp(hash(1)); found || len(trips) != 1 {
		t.Fatalf("first look-up of a new message: found %v, round trips %q; want not found after one read of the hashes", found, trips)
	}
	if got, found, _ := lookUp(hash(0)); !found || got != "from an earlier run" {
		t.Fatalf("the message stored by an earlier run reads as %q (found %v)", got, found)
	}

	// Decrypted now, through the deferred decryption.
	err := device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		return device.EventBuffer.PutBufferedEvent(ctx, hash(2), []byte("decrypted now"), time.Unix(1700000000, 0))
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 3; i < 53; i++ {
		if _, found, trips := lookUp(hash(i)); found || len(trips) != 0 {
			t.Fatalf("look-up of new message %d: found %v, round trips %q; want none", i, found, trips)
		}
	}
	if got, found, _ := lookUp(hash(2)); !found || got != "decrypted now" {
		t.Fatalf("the message decrypted now reads as %q (found %v) when delivered again", got, found)
	}
	if err = device.EventBuffer.ClearBufferedEventPlaintext(ctx, hash(2)); err != nil {
		t.Fatal(err)
	}
	if err = Flush(ctx, device); err != nil {
		t.Fatal(err)
	}
	if got, found, trips := lookUp(hash(2)); !found || got != "" || len(trips) != 1 {
		t.Fatalf("the handled message reads as %q (found %v, round trips %q); want found without plaintext, from the database", got, found, trips)
	}
}

// TestKnownHashesNeverMissAStoredHash: the filter answers "not stored" only for hashes that are
// not: hashes added while a build reads, or added before it and not yet in what it read, are
// kept; a failed read sends every look-up to the database for a while; a full filter is built
// again; few new hashes are taken for stored ones.
func TestKnownHashesNeverMissAStoredHash(t *testing.T) {
	ctx := context.Background()
	hash := func(i int) [32]byte { return sha256.Sum256(fmt.Appendf(nil, "h%d", i)) }
	var k *knownHashes
	stored := [][32]byte{hash(0)}
	reads := 0
	var fail error
	k = &knownHashes{read: func(context.Context) ([][32]byte, error) {
		reads++
		if reads == 1 {
			k.add(hash(1)) // inserted while the build reads, not in what it read
		}
		return stored, fail
	}}
	k.add(hash(2)) // insert sent before the build, committed after its read
	if !k.mayContain(ctx, hash(0)) || !k.mayContain(ctx, hash(1)) || !k.mayContain(ctx, hash(2)) {
		t.Fatal("a stored hash reads as not stored")
	}
	if reads != 1 {
		t.Fatalf("%d reads of the stored hashes, want 1", reads)
	}
	positives := 0
	for i := 1000; i < 11000; i++ {
		if k.mayContain(ctx, hash(i)) {
			positives++
		}
	}
	if positives > 30 {
		t.Errorf("%d of 10,000 new hashes may be stored, want about 0.1 %%", positives)
	}

	// Filled past its capacity, it is built again from the database at the next look-up (which
	// holds what was inserted meanwhile).
	stored = append(stored, hash(1), hash(2))
	for i := range knownHashesMinCapacity {
		k.add(hash(20000 + i))
		stored = append(stored, hash(20000+i))
	}
	k.mayContain(ctx, hash(3))
	if reads != 2 {
		t.Fatalf("%d reads after the filter filled up, want 2", reads)
	}
	for _, i := range []int{0, 1, 2, 20000, 20000 + knownHashesMinCapacity - 1} {
		if !k.mayContain(ctx, hash(i)) {
			t.Fatalf("hash %d reads as not stored after the second build", i)
		}
	}

	// A build that fails leaves look-ups to the database.
	failing := &knownHashes{read: func(context.Context) ([][32]byte, error) {
		reads++
		return nil, errors.New("connection refused")
	}}
	reads = 0
	for i := range 100 {
		if !failing.mayContain(ctx, hash(50000+i)) {
			t.Fatal("without a filter a hash reads as not stored")
		}
	}
	if reads != 1 {
		t.Errorf("%d reads after a failed one within a minute, want 1", reads)
	}
}

// TestKnownHashesSharedByDeviceObjects: a reconnect loads the account's device again while the old
// client may still store what it decrypts; a hash stored through the old device object after the
// new one's filter was built is still found through the new one, and a privacy token stored through
// the old one is seen through the new one.
func TestKnownHashesSharedByDeviceObjects(t *testing.T) {
	container, db := openContainer(t, "postgres", testdb.NewPostgres(t), "postgres", true)
	ctx := context.Background()
	old := container.NewDevice()
	Install(old, db, zerolog.Nop())
	jid := types.NewADJID("4915100000000", 0, 1)
	saveDevice(t, old, jid)
	renewed, err := container.GetDevice(ctx, jid)
	if err != nil || renewed == nil {
		t.Fatalf("loading the device again: %v, %v", renewed, err)
	}
	Install(renewed, db, zerolog.Nop())
	hash := sha256.Sum256([]byte("decrypted by the old client"))
	if evt, err := renewed.EventBuffer.GetBufferedEvent(ctx, sha256.Sum256([]byte("new"))); err != nil || evt != nil {
		t.Fatalf("a new message through the new device object: %v, %v", evt, err)
	}
	err = old.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		return old.EventBuffer.PutBufferedEvent(ctx, hash, []byte("plaintext"), time.Unix(1700000000, 0))
	})
	if err != nil {
		t.Fatal(err)
	}
	if evt, err := renewed.EventBuffer.GetBufferedEvent(ctx, hash); err != nil || evt == nil || string(evt.Plaintext) != "plaintext" {
		t.Fatalf("the message the old client stored reads as %+v, %v through the new device object", evt, err)
	}

	carol := types.NewJID("4915100000011", types.DefaultUserServer)
	if tok, err := renewed.PrivacyTokens.GetPrivacyToken(ctx, carol); err != nil || tok != nil {
		t.Fatalf("privacy token before any: %+v, %v", tok, err)
	}
	if err = old.PrivacyTokens.PutPrivacyTokens(ctx, store.PrivacyToken{User: carol, Token: []byte("t"), Timestamp: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if tok, err := renewed.PrivacyTokens.GetPrivacyToken(ctx, carol); err != nil || tok == nil || string(tok.Token) != "t" {
		t.Fatalf("privacy token stored through the old device object reads as %+v, %v through the new one", tok, err)
	}
}
