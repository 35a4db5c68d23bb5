package puppet_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

func TestDisplayNameTemplate(t *testing.T) {
	t.Parallel()
	const def = "{{or .FullName .PushName .Phone}} (WA)"
	for _, tc := range []struct {
		name       string
		template   string
		jid        types.JID
		info       puppet.ContactInfo
		want       string
		wantSource string
	}{
		{"contact name wins", def, alicePN, puppet.ContactInfo{FullName: "Alice Liddell", PushName: "ali"}, "Alice Liddell (WA)", puppet.NameSourceContact},
		{"push name", def, alicePN, puppet.ContactInfo{PushName: "ali"}, "ali (WA)", puppet.NameSourcePush},
		{"phone from jid", def, alicePN, puppet.ContactInfo{}, "+4915112345678 (WA)", puppet.NameSourcePhone},
		{"phone given", def, alicePN, puppet.ContactInfo{Phone: "+49 151 12345678"}, "+49 151 12345678 (WA)", puppet.NameSourcePhone},
		{"spaces trimmed", def, alicePN, puppet.ContactInfo{FullName: "  Alice  "}, "Alice (WA)", puppet.NameSourceContact},
		{"lid with push name", def, aliceLID, puppet.ContactInfo{PushName: "ali"}, "ali (WA)", puppet.NameSourcePush},
		{"lid with nothing", def, aliceLID, puppet.ContactInfo{}, "WhatsApp user …2345 (WA)", puppet.NameSourceFallback},
		{"lid with redacted phone", def, aliceLID, puppet.ContactInfo{Phone: "+49∙∙∙∙∙∙78"}, "+49∙∙∙∙∙∙78 (WA)", puppet.NameSourcePhone},
		{"business name", "{{or .BusinessName .FullName .PushName .Phone}}", alicePN, puppet.ContactInfo{BusinessName: "Alice's Shop", PushName: "ali"}, "Alice's Shop", puppet.NameSourceBusiness},
		{"first name", "{{.FirstName}} via WhatsApp", alicePN, puppet.ContactInfo{FirstName: "Alice", FullName: "Alice Liddell"}, "Alice via WhatsApp", puppet.NameSourceContact},
		{"template field empty falls back", "{{.FullName}}", alicePN, puppet.ContactInfo{PushName: "ali"}, "ali", puppet.NameSourcePush},
		{"line break in a push name", def, alicePN, puppet.ContactInfo{PushName: "Ali\nce\r\n"}, "Ali ce (WA)", puppet.NameSourcePush},
		{"control characters in a saved name", def, alicePN, puppet.ContactInfo{FullName: "Alice\x00\x1b[31m\tL\u2028"}, "Alice [31m L (WA)", puppet.NameSourceContact},
		{"only control characters", def, alicePN, puppet.ContactInfo{PushName: "\n\x07"}, "+4915112345678 (WA)", puppet.NameSourcePhone},
		{"template field empty, lid, nothing known", "{{.FullName}}", aliceLID, puppet.ContactInfo{}, "WhatsApp user …2345", puppet.NameSourceFallback},
	} {
		cfg := testConfig("http://127.0.0.1:1", "whatsapp_{{.}}")
		cfg.Bridge.DisplaynameTemplate = tc.template
		m := puppet.NewManager(cfg, nil, nil, discardLog())
		name, source := m.RenderName(tc.jid, tc.info)
		if name != tc.want || source != tc.wantSource {
			t.Errorf("%s: RenderName = %q (%s), want %q (%s)", tc.name, name, source, tc.want, tc.wantSource)
		}
	}
}

// TestSyncTwiceCallsHomeserverOnce: the first sync sets name and avatar, identical syncs after it
// (also after a restart) make no request at all, and only what changed is sent again.
func TestSyncTwiceCallsHomeserverOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		p, err := e.m.Get(ctx, alicePN, nil)
		must(t, err)
		picture := []byte("\x89PNG\r\n\x1a\nfirst picture")
		fetches := 0
		info := puppet.ContactInfo{FullName: "Alice", Avatar: countingAvatar("pic1", picture, &fetches)}
		must(t, p.SyncProfile(ctx, info))
		name, avatar := e.hs.profile(p.MXID)
		if name != "Alice (WA)" || !bytes.Equal(e.hs.mediaBytes(avatar), picture) {
			t.Fatalf("after the first sync the ghost shows %q with avatar %q", name, avatar)
		}
		for _, key := range []string{"POST register", "PUT displayname", "POST upload", "PUT avatar_url"} {
			if n := e.hs.callCount(key); n != 1 {
				t.Errorf("first sync: %s called %d times, want 1", key, n)
			}
		}
		if p.DisplayName() != "Alice (WA)" || p.NameSource() != puppet.NameSourceContact || p.AvatarID() != "pic1" || p.ContactInfoUpdatedAt().IsZero() {
			t.Errorf("puppet state after sync: %+v", p.Snapshot())
		}

		before := e.hs.total()
		must(t, p.SyncProfile(ctx, info))
		must(t, p.SyncProfile(ctx, puppet.ContactInfo{FullName: "Alice"}))
		e.restart()
		p, err = e.m.Get(ctx, alicePN, nil)
		must(t, err)
		must(t, p.SyncProfile(ctx, info))
		if n := e.hs.total() - before; n != 0 || fetches != 1 {
			t.Errorf("repeated syncs made %d homeserver requests and %d more picture downloads, want none", n, fetches-1)
		}

		// A new name: one display name update, the picture is untouched.
		must(t, p.SyncProfile(ctx, puppet.ContactInfo{FullName: "Alice L.", Avatar: info.Avatar}))
		if n := e.hs.callCount("PUT displayname"); n != 2 {
			t.Errorf("display name set %d times, want 2", n)
		}
		if e.hs.callCount("POST upload") != 1 || fetches != 1 {
			t.Errorf("unchanged picture was uploaded again")
		}
		// A new picture: downloaded and uploaded once.
		second := []byte("\x89PNG\r\n\x1a\nsecond picture")
		must(t, p.SyncProfile(ctx, puppet.ContactInfo{FullName: "Alice L.", Avatar: countingAvatar("pic2", second, &fetches)}))
		if _, avatar = e.hs.profile(p.MXID); !bytes.Equal(e.hs.mediaBytes(avatar), second) || fetches != 2 {
			t.Errorf("after a picture change the avatar is %q (%d downloads)", avatar, fetches)
		}
		// Picture removed: the avatar is cleared.
		must(t, p.SyncProfile(ctx, puppet.ContactInfo{FullName: "Alice L.", Avatar: puppet.NoAvatar}))
		if _, avatar = e.hs.profile(p.MXID); avatar != "" || p.AvatarURL() != "" || p.AvatarID() != "" {
			t.Errorf("after removal the avatar is %q (stored %q)", avatar, p.AvatarURL())
		}
		before = e.hs.total()
		must(t, p.SyncProfile(ctx, puppet.ContactInfo{FullName: "Alice L.", Avatar: puppet.NoAvatar}))
		if n := e.hs.total() - before; n != 0 {
			t.Errorf("repeating the removal made %d requests", n)
		}
	})
}

func TestSyncRetriesFailedSteps(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		p, err := e.m.Get(ctx, bobPN, nil)
		must(t, err)
		e.hs.lock.Lock()
		e.hs.failNames = 1
		e.hs.lock.Unlock()
		failingFetch := &puppet.Avatar{ID: "pic1", Fetch: func(context.Context) ([]byte, error) {
			return nil, errors.New("media server unreachable")
		}}
		err = p.SyncProfile(ctx, puppet.ContactInfo{PushName: "Bob", Avatar: failingFetch})
		if err == nil || !strings.Contains(err.Error(), "display name") || !strings.Contains(err.Error(), "media server unreachable") {
			t.Fatalf("SyncProfile error = %v, want both failures reported", err)
		}
		if name, avatar := e.hs.profile(p.MXID); name != "" || avatar != "" {
			t.Fatalf("after failures the ghost shows %q / %q", name, avatar)
		}
		// The next sync (even after a restart) repeats both steps.
		e.restart()
		p, err = e.m.Get(ctx, bobPN, nil)
		must(t, err)
		fetches := 0
		must(t, p.SyncProfile(ctx, puppet.ContactInfo{PushName: "Bob", Avatar: countingAvatar("pic1", []byte("GIF89a bob"), &fetches)}))
		if name, avatar := e.hs.profile(p.MXID); name != "Bob (WA)" || avatar == "" || fetches != 1 {
			t.Errorf("after the retry the ghost shows %q / %q (%d downloads)", name, avatar, fetches)
		}
	})
}

// TestQueuedSyncAppliesNewestInfo: a sync queued behind one that is still talking to the
// homeserver applies the contact information current when it runs, so a name learned meanwhile
// is what the ghost ends up with, not the one from when the sync was asked for.
func TestQueuedSyncAppliesNewestInfo(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		p, err := e.m.Get(ctx, alicePN, nil)
		must(t, err)
		var lock sync.Mutex
		known := puppet.ContactInfo{PushName: "ali"}
		reads := make(chan struct{}, 4)
		current := func() puppet.ContactInfo {
			lock.Lock()
			defer lock.Unlock()
			reads <- struct{}{}
			return known
		}
		hold := make(chan struct{})
		e.hs.lock.Lock()
		e.hs.holdNames, e.hs.namesHeld = hold, make(chan struct{}, 2)
		e.hs.lock.Unlock()

		errs := make(chan error, 2)
		go func() { errs <- p.SyncProfileFrom(ctx, current) }()
		<-e.hs.namesHeld // the first sync is setting "ali (WA)"
		go func() { errs <- p.SyncProfileFrom(ctx, current) }()
		<-reads // the first sync's
		// Give the queued sync time to read too early, as it would if it read before waiting.
		select {
		case <-reads:
		case <-time.After(200 * time.Millisecond):
		}
		lock.Lock()
		known = puppet.ContactInfo{PushName: "ali", FullName: "Alice Liddell"}
		lock.Unlock()
		close(hold)
		for range 2 {
			must(t, <-errs)
		}
		if name, _ := e.hs.profile(p.MXID); name != "Alice Liddell (WA)" {
			t.Errorf("after both syncs the ghost is named %q, want the newest name %q", name, "Alice Liddell (WA)")
		}
	})
}

// TestEnsureRegisteredOnce: a ghost is registered once per process and muted (MuteNotifications)
// once, when the homeserver created it.
func TestEnsureRegisteredOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		p, err := e.m.Get(ctx, alicePN, nil)
		must(t, err)
		must(t, p.EnsureRegistered(ctx))
		must(t, p.EnsureRegistered(ctx))
		if n := e.hs.callCount("POST register"); n != 1 {
			t.Errorf("register called %d times, want 1", n)
		}
		if p.Intent() == nil || p.Intent().UserID != p.MXID {
			t.Errorf("intent acts as %v, want %s", p.Intent(), p.MXID)
		}
		// A new ghost never reads notifications: its master push rule is enabled once.
		if n := e.hs.callCount("PUT pushrule .m.rule.master"); n != 1 {
			t.Errorf("the master push rule was set %d times, want 1", n)
		}
		e.hs.lock.Lock()
		muted := e.hs.muted[p.MXID]
		e.hs.lock.Unlock()
		if !muted {
			t.Errorf("the new ghost %s has its notifications on", p.MXID)
		}
		// After a restart the homeserver answers M_USER_IN_USE, which is fine.
		e.restart()
		p, err = e.m.Get(ctx, alicePN, nil)
		must(t, err)
		must(t, p.EnsureRegistered(ctx))
		if n := e.hs.callCount("POST register"); n != 2 {
			t.Errorf("register called %d times after restart, want 2", n)
		}
		// Muted when the homeserver created it, not again for each process.
		if n := e.hs.callCount("PUT pushrule .m.rule.master"); n != 1 {
			t.Errorf("the master push rule was set %d times after restart, want 1", n)
		}
	})
}
