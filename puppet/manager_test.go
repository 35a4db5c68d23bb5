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

// TestLIDResolvedLaterMerges: a contact first seen by LID only gets a lid- ghost; when the phone
// number becomes known, both forms lead to the phone puppet and the database keeps one row.
func TestLIDResolvedLaterMerges(t *testing.T) {
	for _, resolveBy := range []string{"phone", "lid"} {
		t.Run("by_"+resolveBy, func(t *testing.T) {
			eachDialect(t, func(t *testing.T, e *env) {
				ctx := context.Background()
				lids := newFakeLIDs()
				lidPuppet, err := e.m.Get(ctx, aliceLID, lids)
				must(t, err)
				fetches := 0
				must(t, lidPuppet.SyncProfile(ctx, puppet.ContactInfo{PushName: "Alice", Avatar: countingAvatar("pic1", []byte("\x89PNG\r\n\x1a\nalice"), &fetches)}))
				if name, _ := e.hs.profile(lidPuppet.MXID); name != "Alice (WA)" {
					t.Fatalf("lid ghost display name = %q", name)
				}

				lids.learn(aliceLID, alicePN)
				var merged *puppet.Puppet
				if resolveBy == "phone" {
					merged, err = e.m.Get(ctx, alicePN, lids)
				} else {
					merged, err = e.m.Get(ctx, aliceLID, lids)
				}
				must(t, err)
				if merged.JID != alicePN || merged.LID() != aliceLID {
					t.Fatalf("after resolution got %s (lid %s), want the phone puppet with the LID", merged.JID, merged.LID())
				}
				for _, form := range []types.JID{aliceLID, alicePN} {
					if p, err := e.m.Get(ctx, form, nil); err != nil || p != merged {
						t.Errorf("Get(%s) = %v, %v; want the merged puppet", form, p, err)
					}
				}
				if p, err := e.m.GetByMXID(ctx, lidPuppet.MXID); err != nil || p != merged {
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

				// The phone ghost gets the profile; the picture uploaded for the lid ghost is reused.
				must(t, merged.SyncProfile(ctx, puppet.ContactInfo{PushName: "Alice", Avatar: countingAvatar("pic1", []byte("\x89PNG\r\n\x1a\nalice"), &fetches)}))
				name, avatar := e.hs.profile(merged.MXID)
				if name != "Alice (WA)" || avatar == "" || avatar != string(merged.AvatarURL()) {
					t.Errorf("phone ghost profile = %q, %q", name, avatar)
				}
				if fetches != 1 || e.hs.callCount("POST upload") != 1 {
					t.Errorf("picture downloaded %d times and uploaded %d times, want 1 and 1", fetches, e.hs.callCount("POST upload"))
				}

				e.restart()
				if p, err := e.m.Get(ctx, aliceLID, nil); err != nil || p.JID != alicePN || p.DisplayName() != "Alice (WA)" {
					t.Errorf("after restart Get(lid) = %v, %v; want the phone puppet named Alice", p, err)
				}
			})
		})
	}
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
