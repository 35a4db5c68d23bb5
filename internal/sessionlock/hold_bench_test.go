package sessionlock

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// BenchmarkDecryptAndStore measures what a WhatsApp message costs the bridge's side before its
// receipt on PostgreSQL: libsignal decrypts it against the wrapped store (as whatsmeow's
// bufferedDecrypt does) and the handler inserts a row for it. "separate" writes the decryption
// with its own statement and then the row; "carried" holds the decryption's writes for the insert
// (CarryDecryptions). Besides ns/op it reports the process's CPU (cpu-ms/op) and the database
// backends' CPU (db-cpu-ms/op, read from /proc: PostgreSQL must run on this machine).
func BenchmarkDecryptAndStore(b *testing.B) {
	for _, carry := range []bool{false, true} {
		name := "separate"
		if carry {
			name = "carried"
		}
		b.Run(name, func(b *testing.B) { benchDecryptAndStore(b, carry) })
	}
}

func benchDecryptAndStore(b *testing.B, carry bool) {
	ctx := context.Background()
	uri := testdb.NewPostgres(b)
	container, db := openContainer(b, "postgres", uri, "postgres", false)
	bridge := container.NewDevice()
	Install(bridge, db, zerolog.Nop())
	if carry {
		CarryDecryptions(bridge)
	}
	saveDevice(b, bridge, types.NewADJID("4915100000000", 0, 1))
	if _, err := db.Exec(ctx, `CREATE TABLE inbox (seq SERIAL PRIMARY KEY, payload TEXT NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	peer := newPeerSession(b, bridge, "4915100000001")
	contact, contactCipher, bridgeCipher := peer.contact, peer.contactCipher, peer.bridgeCipher

	// The first message sets the session up (a prekey message); the measured ones are normal.
	first, err := contactCipher.Encrypt(ctx, []byte("hello"))
	if err != nil {
		b.Fatal(err)
	}
	preKey, err := protocol.NewPreKeySignalMessageFromBytes(first.Serialize(), ser.PreKeySignalMessage, ser.SignalMessage)
	if err != nil {
		b.Fatal(err)
	}
	store := func(n int) {
		if held, _ := Take(bridge); held != nil {
			args := []any{"message " + strconv.Itoa(n)}
			parts := held.CTEs(func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) })
			ctes := make([]string, len(parts))
			for i, p := range parts {
				ctes[i] = fmt.Sprintf("c%d AS (%s)", i, p)
			}
			_, err := db.Exec(ctx, "WITH "+strings.Join(ctes, ", ")+" INSERT INTO inbox (payload) VALUES ($1)", args...)
			held.Done(err)
			if err != nil {
				b.Fatal(err)
			}
			return
		}
		if _, err := db.Exec(ctx, `INSERT INTO inbox (payload) VALUES ($1)`, "message "+strconv.Itoa(n)); err != nil {
			b.Fatal(err)
		}
	}
	decrypt := func(n int, run func(context.Context) ([]byte, error)) {
		err := bridge.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
			plaintext, err := run(ctx)
			if err != nil {
				return err
			}
			return bridge.EventBuffer.PutBufferedEvent(ctx, [32]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24), 0xbe}, plaintext, time.Now())
		})
		if err != nil {
			b.Fatal(err)
		}
		store(n)
	}
	decrypt(0, func(ctx context.Context) ([]byte, error) { return bridgeCipher.DecryptMessage(ctx, preKey) })
	// The bridge answers, so that the contact's next messages are normal ones.
	reply, err := bridgeCipher.Encrypt(ctx, []byte("hi"))
	if err != nil {
		b.Fatal(err)
	}
	ReleaseSender(bridge, *contact.ID)
	replyMsg, err := protocol.NewSignalMessageFromBytes(reply.Serialize(), ser.SignalMessage)
	if err != nil {
		b.Fatal(err)
	}
	if _, err = contactCipher.Decrypt(ctx, replyMsg); err != nil {
		b.Fatal(err)
	}

	messages := make([]*protocol.SignalMessage, b.N)
	for i := range messages {
		ct, err := contactCipher.Encrypt(ctx, []byte("message "+strconv.Itoa(i)))
		if err != nil {
			b.Fatal(err)
		}
		if messages[i], err = protocol.NewSignalMessageFromBytes(ct.Serialize(), ser.SignalMessage); err != nil {
			b.Fatal(err)
		}
	}
	backends := testdb.BackendPIDs(b, uri)
	dbBefore, procBefore := testdb.BackendsCPU(backends), testdb.ProcessCPU()
	b.ResetTimer()
	for i, msg := range messages {
		decrypt(i+1, func(ctx context.Context) ([]byte, error) { return bridgeCipher.Decrypt(ctx, msg) })
	}
	b.StopTimer()
	dbCPU, procCPU := testdb.BackendsCPU(backends)-dbBefore, testdb.ProcessCPU()-procBefore
	b.ReportMetric(float64(procCPU.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(dbCPU.Microseconds())/1000/float64(b.N), "db-cpu-ms/op")
	if err = Flush(ctx, bridge); err != nil {
		b.Fatal(err)
	}
}
