package sessionlock

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestPlaintextClearsRideAlong: on PostgreSQL whatsmeow's clear of a handled message's buffered
// plaintext costs no statement of its own while messages keep coming: it reads as cleared at once
// (a message delivered again is skipped as already handled), and is written with the next
// decryption's statement, or on its own after PendingDelay when no decryption follows. On SQLite the
// clear is written at once, as whatsmeow does.
func TestPlaintextClearsRideAlong(t *testing.T) {
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			device, raw, counter := newDeviceFor(t, dialect)
			ctx := context.Background()
			// decrypt stands for whatsmeow's bufferedDecrypt of a message from a known contact.
			decrypt := func(hash [32]byte, record string) {
				t.Helper()
				err := device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
					if err := device.Sessions.PutSession(ctx, addr, []byte(record)); err != nil {
						return err
					}
					return device.EventBuffer.PutBufferedEvent(ctx, hash, []byte("plaintext "+record), time.Unix(1700000000, 0))
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			plaintext := func(hash [32]byte) string {
				t.Helper()
				evt, err := raw.GetBufferedEvent(ctx, hash)
				if err != nil || evt == nil {
					t.Fatalf("stored event %x: %v, %v", hash[:2], evt, err)
				}
				return string(evt.Plaintext)
			}
			first, second := [32]byte{0x21}, [32]byte{0x22}
			decrypt(first, "r1")

			before := counter.count()
			if err := device.EventBuffer.ClearBufferedEventPlaintext(ctx, first); err != nil {
				t.Fatal(err)
			}
			evt, err := device.EventBuffer.GetBufferedEvent(ctx, first)
			if err != nil || evt == nil || evt.Plaintext != nil {
				t.Fatalf("after the clear the event reads as %+v, %v; want one without plaintext", evt, err)
			}
			trips := counter.since(before)
			if dialect == testdb.SQLite {
				if plaintext(first) != "" {
					t.Error("on SQLite the clear was not written at once")
				}
				return
			}
			if len(trips) != 0 {
				t.Errorf("the clear and the read after it took %q, want no round trip", trips)
			}
			if plaintext(first) == "" {
				t.Fatal("the clear was written at once; want it to wait for the next decryption")
			}

			before = counter.count()
			decrypt(second, "r2")
			if trips = counter.since(before); len(trips) != 1 {
				t.Errorf("the next decryption took %d round trips, want 1 (the clear riding along): %q", len(trips), trips)
			}
			if got := plaintext(first); got != "" {
				t.Errorf("after the next decryption the first plaintext is %q, want cleared", got)
			}
			if got := plaintext(second); got != "plaintext r2" {
				t.Errorf("the second plaintext is %q", got)
			}

			// No decryption follows the second clear: it is written on its own.
			if err = device.EventBuffer.ClearBufferedEventPlaintext(ctx, second); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for plaintext(second) != "" {
				if time.Now().After(deadline) {
					t.Fatalf("the second clear was not written %s after it", 10*time.Second)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestSentMessageRidesWithItsSessions: on PostgreSQL the plaintext whatsmeow keeps of a sent message
// for retry receipts (AddOutgoingEvent, before it encrypts) is written in the same statement as the
// Signal sessions the encryption advanced (PutManySessions), and reads back from memory until then;
// a sent message that no session write follows is written on its own after PendingDelay. On SQLite
// it is written at once, as whatsmeow does.
func TestSentMessageRidesWithItsSessions(t *testing.T) {
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			device, raw, counter := newDeviceFor(t, dialect)
			ctx := context.Background()
			chat := types.NewJID("4915100000001", types.DefaultUserServer)
			stored := func(id types.MessageID) string {
				t.Helper()
				_, plaintext, err := raw.GetOutgoingEvent(ctx, chat, chat, id)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					t.Fatal(err)
				}
				return string(plaintext)
			}
			before := counter.count()
			if err := device.EventBuffer.AddOutgoingEvent(ctx, chat, "MSG1", "wa", []byte("first")); err != nil {
				t.Fatal(err)
			}
			format, plaintext, err := device.EventBuffer.GetOutgoingEvent(ctx, types.EmptyJID, chat, "MSG1")
			if err != nil || format != "wa" || string(plaintext) != "first" {
				t.Fatalf("the sent message reads back as %q %q, %v", format, plaintext, err)
			}
			if dialect == testdb.SQLite {
				if stored("MSG1") != "first" {
					t.Error("on SQLite the sent message was not stored at once")
				}
				return
			}
			if trips := counter.since(before); len(trips) != 0 {
				t.Errorf("storing and reading the sent message took %q, want no round trip", trips)
			}
			if stored("MSG1") != "" {
				t.Fatal("the sent message was written on its own; want it to wait for its sessions")
			}
			before = counter.count()
			err = device.Sessions.PutManySessions(ctx, map[string][]byte{addr: []byte("s1"), "4915100000002.0:0": []byte("s2")})
			if err != nil {
				t.Fatal(err)
			}
			if trips := counter.since(before); len(trips) != 1 {
				t.Errorf("the sessions and the sent message took %d round trips, want 1: %q", len(trips), trips)
			}
			if got := stored("MSG1"); got != "first" {
				t.Errorf("after the session write the stored sent message is %q", got)
			}
			if data, _ := raw.GetSession(ctx, addr); string(data) != "s1" {
				t.Errorf("the stored session is %q", data)
			}

			if err = device.EventBuffer.AddOutgoingEvent(ctx, chat, "MSG2", "wa", []byte("second")); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for stored("MSG2") != "second" {
				if time.Now().After(deadline) {
					t.Fatalf("the second sent message was not written %s after it", 10*time.Second)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestPendingWritesOfADeletedDevice: a sent message still pending when its device is deleted (a
// logout) is dropped once the database refuses it, not retried for ever.
func TestPendingWritesOfADeletedDevice(t *testing.T) {
	device, raw, _ := newDeviceFor(t, testdb.Postgres)
	ctx := context.Background()
	br := device.Sessions.(*Store).batcher
	chat := types.NewJID("4915100000001", types.DefaultUserServer)
	if err := device.EventBuffer.AddOutgoingEvent(ctx, chat, "MSG1", "wa", []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := device.Container.DeleteDevice(ctx, device); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		br.pending.lock.Lock()
		left, armed := len(br.pending.outgoing), br.pending.timer != nil
		br.pending.lock.Unlock()
		if left == 0 && !armed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sent messages of the deleted device still pending (timer armed: %v)", left, armed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, plaintext, err := raw.GetOutgoingEvent(ctx, chat, chat, "MSG1"); err == nil || len(plaintext) > 0 {
		t.Errorf("the deleted device's sent message was stored: %q, %v", plaintext, err)
	}
}

// TestPendingClearThroughAFailedStatement: a clear reads as cleared while its statement runs and
// after that statement failed; the failed clear rides along with no later statement (the next
// decryption is written without it) and is written by its own statement once the database lets it.
func TestPendingClearThroughAFailedStatement(t *testing.T) {
	device, raw, counter := newDeviceFor(t, testdb.Postgres)
	ctx := context.Background()
	br := device.Sessions.(*Store).batcher
	decrypt := func(hash [32]byte, record string) error {
		return device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
			if err := device.Sessions.PutSession(ctx, addr, []byte(record)); err != nil {
				return err
			}
			return device.EventBuffer.PutBufferedEvent(ctx, hash, []byte("plaintext "+record), time.Unix(1700000000, 0))
		})
	}
	first, second := [32]byte{0x31}, [32]byte{0x32}
	if err := decrypt(first, "r1"); err != nil {
		t.Fatal(err)
	}
	if err := device.EventBuffer.ClearBufferedEventPlaintext(ctx, first); err != nil {
		t.Fatal(err)
	}
	readsCleared := func(when string) {
		t.Helper()
		evt, err := device.EventBuffer.GetBufferedEvent(ctx, first)
		if err != nil || evt == nil || evt.Plaintext != nil {
			t.Fatalf("%s the cleared event reads as %+v, %v", when, evt, err)
		}
	}

	// Another transaction holds the buffer row: the clear's own statement waits for it.
	locker, err := br.db.RawDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = locker.Rollback() }()
	if _, err = locker.ExecContext(ctx, `SELECT 1 FROM whatsmeow_event_buffer WHERE ciphertext_hash = $1 FOR UPDATE`, first[:]); err != nil {
		t.Fatal(err)
	}
	flushCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	flushed := make(chan error, 1)
	go func() { flushed <- Flush(flushCtx, device) }()
	time.Sleep(100 * time.Millisecond)
	readsCleared("while its statement waits,")
	if err = <-flushed; err == nil {
		t.Fatal("the flush succeeded while the row was locked")
	}
	readsCleared("after its statement failed,")

	before := counter.count()
	if err = decrypt(second, "r2"); err != nil {
		t.Fatalf("the next decryption failed: %v", err)
	}
	if trips := counter.since(before); len(trips) != 1 {
		t.Errorf("the next decryption took %q", trips)
	}
	if err = locker.Rollback(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		evt, err := raw.GetBufferedEvent(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		if evt != nil && evt.Plaintext == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the failed clear was never written")
		}
		time.Sleep(50 * time.Millisecond)
	}
	readsCleared("once written,")
}
