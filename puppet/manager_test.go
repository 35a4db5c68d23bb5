package puppet_test

import (
	"context"
	"sync"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

var (
	alicePN  = types.NewJID("4915112345678", types.DefaultUserServer)
	aliceLID = types.NewJID("123456789012345", types.HiddenUserServer)
	bobPN    = types.NewJID("4915187654321", types.DefaultUserServer)
)

// rowCount returns how many puppets the database holds.
func (e *env) rowCount() int {
	e.t.Helper()
	rows, err := e.db.Puppet.GetAll(context.Background())
	must(e.t, err)
	return len(rows)
}

func TestPhoneAndLIDGiveOnePuppet(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		lids := newFakeLIDs()
		lids.learn(aliceLID, alicePN)

		byDevice, err := e.m.Get(ctx, types.NewADJID(alicePN.User, 0, 5), lids)
		must(t, err)
		byLID, err := e.m.Get(ctx, types.JID{User: aliceLID.User, Device: 1, Server: types.HiddenUserServer}, lids)
		must(t, err)
		byLIDOnly, err := e.m.Get(ctx, aliceLID, nil)
		must(t, err)
		if byDevice != byLID || byLID != byLIDOnly {
			t.Fatalf("phone, LID and LID-without-resolver gave different puppets: %s, %s, %s", byDevice.JID, byLID.JID, byLIDOnly.JID)
		}
		if byDevice.JID != alicePN || byDevice.LID() != aliceLID || byDevice.MXID != "@whatsapp_4915112345678:example.org" || byDevice.IsLIDOnly() {
			t.Errorf("puppet = %s / %s / %s, want the phone ghost with the LID recorded", byDevice.JID, byDevice.LID(), byDevice.MXID)
		}
		if n := e.rowCount(); n != 1 {
			t.Errorf("database holds %d puppets, want 1", n)
		}
		row, err := e.db.Puppet.GetByLID(ctx, aliceLID)
		must(t, err)
		if row == nil || row.JID != alicePN {
			t.Errorf("stored row by LID = %+v, want the phone row", row)
		}
	})
}

func TestUnknownLIDGetsLIDGhost(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		p, err := e.m.Get(ctx, aliceLID, newFakeLIDs())
		must(t, err)
		if p.JID != aliceLID || !p.IsLIDOnly() || p.MXID != "@whatsapp_lid-123456789012345:example.org" {
			t.Errorf("puppet = %s / %s, want the lid- ghost", p.JID, p.MXID)
		}
		again, err := e.m.GetByMXID(ctx, p.MXID)
		must(t, err)
		if again != p {
			t.Errorf("GetByMXID(%s) returned another puppet", p.MXID)
		}
	})
}

// TestLIDOnlyKeepsGhostWhenNumberLearned: a contact first seen by LID only gets a lid- ghost; when
// the phone number becomes known, both forms lead to that same puppet (the phone is recorded on it,
// the database keeps one row, the ghost is not replaced), also after a restart.
func TestLIDOnlyKeepsGhostWhenNumberLearned(t *testing.T) {
	for _, resolveBy := range []string{"phone", "lid"} {
		t.Run("by_"+resolveBy, func(t *testing.T) {
			eachDialect(t, func(t *testing.T, e *env) {
				ctx := context.Background()
				lids := newFakeLIDs()
				lidPuppet, err := e.m.Get(ctx, aliceLID, lids)
				must(t, err)
				must(t, lidPuppet.SyncProfile(ctx, puppet.ContactInfo{}))
				if name, _ := e.hs.profile(lidPuppet.MXID); name != "WhatsApp user …2345 (WA)" {
					t.Fatalf("nameless lid ghost display name = %q", name)
				}
				if !lidPuppet.Phone().IsEmpty() {
					t.Fatalf("phone of a LID-only puppet = %s before it was learned", lidPuppet.Phone())
				}

				lids.learn(aliceLID, alicePN)
				var got *puppet.Puppet
				if resolveBy == "phone" {
					got, err = e.m.Get(ctx, alicePN, lids)
				} else {
					got, err = e.m.Get(ctx, aliceLID, lids)
				}
				must(t, err)
				if got != lidPuppet || got.Phone() != alicePN || got.MXID != "@whatsapp_lid-123456789012345:example.org" {
					t.Fatalf("after resolution got %s / %s (phone %s), want the same lid ghost with the phone", got.JID, got.MXID, got.Phone())
				}
				for _, form := range []types.JID{aliceLID, alicePN} {
					for _, resolver := range []puppet.LIDResolver{nil, lids} {
						if p, err := e.m.Get(ctx, form, resolver); err != nil || p != lidPuppet {
							t.Errorf("Get(%s) = %v, %v; want the lid puppet", form, p, err)
						}
						if c, err := e.m.Canonical(ctx, form, resolver); err != nil || c != aliceLID {
							t.Errorf("Canonical(%s) = %s, %v; want the LID", form, c, err)
						}
					}
				}
				if n := e.rowCount(); n != 1 {
					t.Errorf("database holds %d puppets, want 1", n)
				}
				// The learned number now names the ghost when no better name is known.
				must(t, got.SyncProfile(ctx, puppet.ContactInfo{}))
				if name, _ := e.hs.profile(got.MXID); name != "+4915112345678 (WA)" {
					t.Errorf("display name after the number became known = %q", name)
				}

				e.restart()
				for _, form := range []types.JID{alicePN, aliceLID} {
					if c, err := e.m.Canonical(ctx, form, nil); err != nil || c != aliceLID {
						t.Errorf("after restart Canonical(%s) = %s, %v; want the LID", form, c, err)
					}
					if p, err := e.m.Get(ctx, form, nil); err != nil || p.JID != aliceLID || p.Phone() != alicePN {
						t.Errorf("after restart Get(%s) = %v, %v; want the lid puppet with its phone", form, p, err)
					}
				}
			})
		})
	}
}

// TestLIDOnlyMergedIntoExistingPhonePuppet: when a contact has both a phone puppet (seen by number
// without its LID) and a LID-only puppet, learning the mapping merges the LID-only one into the
// phone puppet, which keeps its ghost; the old lid- ghost's user ID leads to the phone puppet.
func TestLIDOnlyMergedIntoExistingPhonePuppet(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		phonePuppet, err := e.m.Get(ctx, alicePN, nil)
		must(t, err)
		lidPuppet, err := e.m.Get(ctx, aliceLID, newFakeLIDs())
		must(t, err)
		if lidPuppet == phonePuppet {
			t.Fatal("unresolved LID gave the phone puppet")
		}
		lids := newFakeLIDs()
		lids.learn(aliceLID, alicePN)
		if c, err := e.m.Canonical(ctx, aliceLID, lids); err != nil || c != alicePN {
			t.Errorf("Canonical(lid) = %s, %v; want the phone JID", c, err)
		}
		merged, err := e.m.Get(ctx, aliceLID, lids)
		must(t, err)
		if merged != phonePuppet || merged.LID() != aliceLID {
			t.Fatalf("after resolution got %s (lid %s), want the phone puppet with the LID", merged.JID, merged.LID())
		}
		if p, err := e.m.GetByMXID(ctx, lidPuppet.MXID); err != nil || p != phonePuppet {
			t.Errorf("GetByMXID(old lid ghost) = %v, %v; want the phone puppet", p, err)
		}
		if n := e.rowCount(); n != 1 {
			t.Errorf("database holds %d puppets after the merge, want 1", n)
		}
		// The old ghost's puppet is inert: syncing it neither writes a row nor calls the homeserver.
		before := e.hs.total()
		must(t, lidPuppet.SyncProfile(ctx, puppet.ContactInfo{PushName: "Someone else"}))
		if e.hs.total() != before || e.rowCount() != 1 {
			t.Errorf("sync of the merged lid puppet had effects")
		}
	})
}

// TestLIDMovedToAnotherPhone: if the LID store says a LID now belongs to another number, the LID
// moves and the old phone puppet keeps its phone identity.
func TestLIDMovedToAnotherPhone(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		lids := newFakeLIDs()
		lids.learn(aliceLID, alicePN)
		alice, err := e.m.Get(ctx, alicePN, lids)
		must(t, err)
		moved := newFakeLIDs()
		moved.learn(aliceLID, bobPN)
		bob, err := e.m.Get(ctx, bobPN, moved)
		must(t, err)
		if bob.LID() != aliceLID || !alice.LID().IsEmpty() {
			t.Errorf("after the move: bob lid %s, alice lid %s", bob.LID(), alice.LID())
		}
		if p, err := e.m.Get(ctx, aliceLID, nil); err != nil || p != bob {
			t.Errorf("Get(lid) = %v, %v; want bob", p, err)
		}
		// Alice's puppet still syncs (its row write must not reclaim the LID).
		must(t, alice.SyncProfile(ctx, puppet.ContactInfo{FullName: "Alice"}))
		e.restart()
		if p, err := e.m.Get(ctx, aliceLID, nil); err != nil || p.JID != bobPN {
			t.Errorf("after restart Get(lid) = %v, %v; want bob", p, err)
		}
	})
}

func TestGetByMXIDCreatesPhonePuppet(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		p, err := e.m.GetByMXID(ctx, "@whatsapp_4915187654321:example.org")
		must(t, err)
		if p == nil || p.JID != bobPN || p.MXID != "@whatsapp_4915187654321:example.org" {
			t.Fatalf("GetByMXID = %+v, want bob's puppet", p)
		}
		if again, err := e.m.Get(ctx, bobPN, nil); err != nil || again != p {
			t.Errorf("Get after GetByMXID returned another puppet")
		}
		if e.rowCount() != 1 {
			t.Errorf("database holds %d puppets, want 1", e.rowCount())
		}
		if p, err := e.m.GetByMXID(ctx, "@whatsappbot:example.org"); p != nil || err != nil {
			t.Errorf("GetByMXID(bot) = %v, %v; want nil, nil", p, err)
		}
		all, err := e.m.GetAll(ctx)
		must(t, err)
		if len(all) != 1 || all[0] != p {
			t.Errorf("GetAll = %v, want [bob]", all)
		}
	})
}

func TestConcurrentGetsShareOnePuppet(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		lids := newFakeLIDs()
		lids.learn(aliceLID, alicePN)
		const workers = 24
		got := make([]*puppet.Puppet, workers)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var jid types.JID
				var resolver puppet.LIDResolver = lids
				switch i % 3 {
				case 0:
					jid = types.NewADJID(alicePN.User, 0, uint8(i))
				case 1:
					jid = aliceLID
				default:
					jid, resolver = alicePN, nil
				}
				got[i], errs[i] = e.m.Get(ctx, jid, resolver)
				if errs[i] == nil {
					errs[i] = got[i].SyncProfile(ctx, puppet.ContactInfo{FullName: "Alice"})
				}
			}()
		}
		wg.Wait()
		for i := range workers {
			if errs[i] != nil {
				t.Fatalf("worker %d: %v", i, errs[i])
			}
			if got[i] != got[0] {
				t.Fatalf("worker %d got a different puppet (%s) than worker 0 (%s)", i, got[i].JID, got[0].JID)
			}
		}
		if e.rowCount() != 1 || got[0].LID() != aliceLID {
			t.Errorf("database holds %d puppets, lid %s", e.rowCount(), got[0].LID())
		}
		if n := e.hs.callCount("PUT displayname"); n != 1 {
			t.Errorf("display name set %d times by %d identical syncs, want 1", n, workers)
		}
		if name, _ := e.hs.profile(id.UserID("@whatsapp_4915112345678:example.org")); name != "Alice (WA)" {
			t.Errorf("display name = %q", name)
		}
	})
}

// Existing creates nothing: a contact heard of only by LID gets no LID-keyed puppet from it, and a
// contact with a puppet is found under either of its JIDs.
func TestExistingCreatesNothing(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		lids := newFakeLIDs()
		if p, err := e.m.Existing(ctx, aliceLID, lids); err != nil || p != nil {
			t.Fatalf("Existing of an unknown LID = %v, %v; want nil", p, err)
		}
		lids.learn(aliceLID, alicePN)
		created, err := e.m.Get(ctx, alicePN, lids)
		must(t, err)
		if string(created.MXID) != "@whatsapp_"+alicePN.User+":example.org" {
			t.Fatalf("a contact whose number is known got ghost %s", created.MXID)
		}
		for _, form := range []types.JID{aliceLID, alicePN} {
			if p, err := e.m.Existing(ctx, form, lids); err != nil || p != created {
				t.Errorf("Existing(%s) = %v, %v; want the phone puppet", form, p, err)
			}
		}
	})
}
