package sessionlock

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
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
	backends := backendPIDs(b, uri)
	dbBefore, procBefore := backendsCPU(backends), processCPU()
	b.ResetTimer()
	for i, msg := range messages {
		decrypt(i+1, func(ctx context.Context) ([]byte, error) { return bridgeCipher.Decrypt(ctx, msg) })
	}
	b.StopTimer()
	dbCPU, procCPU := backendsCPU(backends)-dbBefore, processCPU()-procBefore
	b.ReportMetric(float64(procCPU.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(dbCPU.Microseconds())/1000/float64(b.N), "db-cpu-ms/op")
	if err = Flush(ctx, bridge); err != nil {
		b.Fatal(err)
	}
}

// backendPIDs returns the process IDs of the PostgreSQL backends connected to the database at uri
// (the pool's connections, opened by the set-up).
func backendPIDs(b *testing.B, uri string) []int {
	b.Helper()
	conn, err := sql.Open("postgres", uri)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var pid int
		if err = rows.Scan(&pid); err != nil {
			b.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// backendsCPU sums the user and system CPU time of pids from /proc/<pid>/stat (clock ticks of
// 10 ms); a process that is gone counts nothing.
func backendsCPU(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The fields after the command name (in parentheses): utime and stime are the 12th and
		// 13th of them.
		fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
		if len(fields) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		total += time.Duration(utime+stime) * 10 * time.Millisecond
	}
	return total
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
