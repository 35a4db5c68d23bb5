package sessionlock

import (
	"context"
	"errors"
	"testing"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

// countingIdentities counts what reaches the database's identity store.
type countingIdentities struct {
	store.IdentityStore
	puts, checks int
}

func (c *countingIdentities) PutIdentity(ctx context.Context, address string, key [32]byte) error {
	c.puts++
	return c.IdentityStore.PutIdentity(ctx, address, key)
}

func (c *countingIdentities) IsTrustedIdentity(ctx context.Context, address string, key [32]byte) (bool, error) {
	c.checks++
	return c.IdentityStore.IsTrustedIdentity(ctx, address, key)
}

// TestIdentitiesSkipUnchangedKeys: a contact's key stored once is checked and stored again without
// the database while it does not change; a key stored in a decryption transaction that rolled back
// is not taken for the stored one, one from a committed transaction is; a deleted key is gone.
func TestIdentitiesSkipUnchangedKeys(t *testing.T) {
	device, _ := newDevice(t)
	ctx := context.Background()
	ids, ok := device.Identities.(*Identities)
	if !ok {
		t.Fatalf("identity store is %T, want the wrapper", device.Identities)
	}
	db := &countingIdentities{IdentityStore: ids.IdentityStore}
	ids.IdentityStore = db
	const contact = "4917600000002.0:0"
	k1, k2, k3 := [32]byte{1}, [32]byte{2}, [32]byte{3}
	trusted := func(key [32]byte) bool {
		t.Helper()
		ok, err := device.Identities.IsTrustedIdentity(ctx, contact, key)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	inDatabase := func(key [32]byte) bool {
		t.Helper()
		ok, err := db.IdentityStore.IsTrustedIdentity(ctx, contact, key)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	put := func(ctx context.Context, key [32]byte) {
		t.Helper()
		if err := device.Identities.PutIdentity(ctx, contact, key); err != nil {
			t.Fatal(err)
		}
	}

	put(ctx, k1)
	put(ctx, k1)
	if db.puts != 1 {
		t.Errorf("storing the same key twice wrote %d times, want 1", db.puts)
	}
	if !trusted(k1) || trusted(k2) || db.checks != 0 {
		t.Errorf("checks of a stored key: trusted(k1)=%v trusted(k2)=%v with %d database reads, want true, false, 0", trusted(k1), trusted(k2), db.checks)
	}

	// A decryption that stored a new key and then failed: its transaction rolled back.
	err := device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		put(ctx, k2)
		if !trusted(k2) {
			t.Error("inside the transaction the key it stored is not the current one")
		}
		return errors.New("decryption failed")
	})
	if err == nil {
		t.Fatal("the failed decryption's transaction reported success")
	}
	if !inDatabase(k1) {
		t.Fatal("the rolled-back transaction changed the stored key")
	}
	if trusted(k2) || !trusted(k1) {
		t.Error("after the rollback the key of the failed decryption is taken for the stored one")
	}

	// A decryption that stored a new key and committed.
	if err = device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		put(ctx, k3)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	checks := db.checks
	stored, trustK3, trustK1 := inDatabase(k3), trusted(k3), trusted(k1)
	if !stored || !trustK3 || trustK1 || db.checks != checks {
		t.Errorf("after the commit: stored k3 %v, trusted(k3) %v, trusted(k1) %v, database reads %d; want true, true, false, 0",
			stored, trustK3, trustK1, db.checks-checks)
	}
	puts := db.puts
	put(ctx, k3)
	if db.puts != puts {
		t.Error("the committed key was written again")
	}

	// Deleted: any key is trusted again (none stored), as the database says.
	if err = device.Identities.DeleteIdentity(ctx, contact); err != nil {
		t.Fatal(err)
	}
	if !trusted(k1) || !inDatabase(k1) {
		t.Error("after deleting the key a new one is not trusted")
	}
	put(ctx, k1)
	if !inDatabase(k1) || inDatabase(k3) {
		t.Error("the key stored after the deletion is not in the database")
	}
}

// hookedIdentities runs afterPut once the database's identity store stored a key.
type hookedIdentities struct {
	store.IdentityStore
	afterPut func()
}

func (h *hookedIdentities) PutIdentity(ctx context.Context, address string, key [32]byte) error {
	err := h.IdentityStore.PutIdentity(ctx, address, key)
	h.afterPut()
	return err
}

// hookedBuffer runs afterTxn once a decryption transaction ended.
type hookedBuffer struct {
	store.EventBuffer
	afterTxn func()
}

func (h *hookedBuffer) DoDecryptionTxn(ctx context.Context, fn func(context.Context) error) error {
	err := h.EventBuffer.DoDecryptionTxn(ctx, fn)
	h.afterTxn()
	return err
}

// TestIdentitiesDeleteDuringStore: a key deleted by another goroutine after a store's statement,
// but before the store updated the memory, is not remembered: neither by a store outside a
// transaction nor by a decryption transaction that committed.
func TestIdentitiesDeleteDuringStore(t *testing.T) {
	device, _ := newDevice(t)
	ctx := context.Background()
	ids := device.Identities.(*Identities)
	const phone = "4917600000002"
	const contact = phone + ":0"
	k1, k2 := [32]byte{1}, [32]byte{2}
	// elsewhere runs fn on another goroutine and waits for it.
	elsewhere := func(fn func() error) {
		done := make(chan error)
		go func() { done <- fn() }()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	check := func(name string) {
		t.Helper()
		ids.lock.Lock()
		key, remembered := ids.known[contact]
		ids.lock.Unlock()
		if remembered {
			t.Errorf("%s: the deleted key %v is remembered", name, key[0])
		}
		// Nothing is stored: any key is trusted.
		if ok, err := ids.IsTrustedIdentity(ctx, contact, k2); err != nil || !ok {
			t.Errorf("%s: after the deletion another key is not trusted (%v)", name, err)
		}
	}

	hooked := &hookedIdentities{IdentityStore: ids.IdentityStore, afterPut: func() {}}
	ids.IdentityStore = hooked
	hooked.afterPut = func() {
		elsewhere(func() error { return ids.DeleteAllIdentities(ctx, phone) })
	}
	if err := ids.PutIdentity(ctx, contact, k1); err != nil {
		t.Fatal(err)
	}
	check("a store outside a transaction")

	hooked.afterPut = func() {}
	buf := device.EventBuffer.(*identityBuffer)
	buf.EventBuffer = &hookedBuffer{EventBuffer: buf.EventBuffer, afterTxn: func() {
		elsewhere(func() error { return ids.DeleteIdentity(ctx, contact) })
	}}
	if err := device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		return ids.PutIdentity(ctx, contact, k1)
	}); err != nil {
		t.Fatal(err)
	}
	check("a committed decryption transaction")
}

// TestMigratePNToLIDForgetsIdentities: the migration of a phone number's keys to its LID, done by
// whatsmeow's store past the identity wrapper, leaves no key of either remembered, while keys of
// others stay remembered and a later call, which changes nothing, forgets nothing.
func TestMigratePNToLIDForgetsIdentities(t *testing.T) {
	device, _ := newDevice(t)
	ctx := context.Background()
	ids := device.Identities.(*Identities)
	pn := types.NewJID("4917600000002", types.DefaultUserServer)
	lid := types.NewJID("123456789", types.HiddenUserServer)
	pnAddr, lidAddr, other := pn.SignalAddress().String(), lid.SignalAddress().String(), "4917600000003:0"
	k1, k2, k3 := [32]byte{1}, [32]byte{2}, [32]byte{3}
	put := func(address string, key [32]byte) {
		t.Helper()
		if err := ids.PutIdentity(ctx, address, key); err != nil {
			t.Fatal(err)
		}
	}
	remembered := func(address string) bool {
		ids.lock.Lock()
		defer ids.lock.Unlock()
		_, ok := ids.known[address]
		return ok
	}
	trusted := func(address string, key [32]byte) bool {
		t.Helper()
		ok, err := ids.IsTrustedIdentity(ctx, address, key)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	put(pnAddr, k1)
	put(lidAddr, k2)
	put(other, k3)
	if err := device.Sessions.MigratePNToLID(ctx, pn, lid); err != nil {
		t.Fatal(err)
	}
	if remembered(pnAddr) || remembered(lidAddr) || !remembered(other) {
		t.Errorf("after the migration: remembered phone number's key %v, LID's %v, another's %v; want false, false, true",
			remembered(pnAddr), remembered(lidAddr), remembered(other))
	}
	// The database now holds the phone number's key for the LID, and none for the phone number.
	if !trusted(lidAddr, k1) || trusted(lidAddr, k2) || !trusted(pnAddr, k3) {
		t.Error("after the migration the keys checked are not the ones the database holds")
	}

	put(lidAddr, k1)
	if err := device.Sessions.MigratePNToLID(ctx, pn, lid); err != nil {
		t.Fatal(err)
	}
	if !remembered(lidAddr) {
		t.Error("a repeated migration, which changes nothing, forgot the LID's key")
	}

	// Without the identity wrapper the migration still runs.
	bare := &Store{SessionStore: device.Sessions.(*Store).SessionStore}
	if err := bare.MigratePNToLID(ctx, types.NewJID("4917600000004", types.DefaultUserServer), types.NewJID("987654321", types.HiddenUserServer)); err != nil {
		t.Fatal(err)
	}
}
