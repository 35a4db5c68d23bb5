package database

import (
	"context"
	"fmt"
	"time"
)

// pruneSentMessagesQuery deletes from whatsmeow's retry buffer: the messages the bridge's devices
// sent, kept (plaintext protobuf, keyed by device, chat and message ID, with the send time in Unix
// milliseconds) so that a recipient's retry receipt can be answered after a restart.
const pruneSentMessagesQuery = `DELETE FROM whatsmeow_retry_buffer WHERE timestamp < $1`

// PruneSentMessages deletes the sent messages kept for retry receipts that are older than maxAge
// (all of them for maxAge <= 0) and returns how many. whatsmeow writes them (its
// UseRetryMessageStore); the bridge's devices leave deleting them to this (whatsapp/sentbuffer.go),
// which keeps the window configurable.
func (db *Database) PruneSentMessages(ctx context.Context, maxAge time.Duration) (int64, error) {
	cutoff := time.Now().Add(-maxAge).UnixMilli()
	if maxAge <= 0 {
		cutoff = time.Now().Add(time.Hour).UnixMilli()
	}
	res, err := db.DB.Exec(ctx, pruneSentMessagesQuery, cutoff)
	if err != nil {
		return 0, fmt.Errorf("failed to prune sent messages kept for retry receipts: %w", err)
	}
	return res.RowsAffected()
}
