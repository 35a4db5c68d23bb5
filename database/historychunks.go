package database

import (
	"context"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"
)

const (
	insertHistoryChunkQuery = `
		INSERT INTO history_chunks (user_mxid, login_phone, sync_type, chunk_order, progress, data) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (user_mxid, login_phone, sync_type, chunk_order) DO NOTHING
	`
	getHistoryChunksQuery = `
		SELECT sync_type, chunk_order, progress, data FROM history_chunks WHERE user_mxid=$1 AND login_phone=$2 ORDER BY sync_type, chunk_order
	`
	deleteHistoryChunksQuery = `DELETE FROM history_chunks WHERE user_mxid=$1 AND login_phone=$2`
)

// HistoryChunk is a history sync chunk kept until it is bridged.
type HistoryChunk struct {
	// SyncType and ChunkOrder identify the chunk (waHistorySync.HistorySync's fields); Progress
	// is the phone's progress (100 for its last chunk).
	SyncType, ChunkOrder, Progress int
	// Data is the chunk as the phone sent it (a marshalled waHistorySync.HistorySync).
	Data []byte
}

// HistoryChunkQuery reads and writes the history_chunks table.
type HistoryChunkQuery struct {
	db *dbutil.Database
}

// Insert keeps a chunk of the history of user's login (its phone number in digits); a chunk kept
// already (same login, type and order) is left as it is. The user must be stored.
func (q *HistoryChunkQuery) Insert(ctx context.Context, user id.UserID, login string, c *HistoryChunk) error {
	_, err := q.db.Exec(ctx, insertHistoryChunkQuery, user.String(), login, c.SyncType, c.ChunkOrder, c.Progress, c.Data)
	return err
}

// GetAll returns the kept chunks of user's login by type and order.
func (q *HistoryChunkQuery) GetAll(ctx context.Context, user id.UserID, login string) ([]*HistoryChunk, error) {
	rows, err := q.db.Query(ctx, getHistoryChunksQuery, user.String(), login)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*HistoryChunk
	for rows.Next() {
		var c HistoryChunk
		if err = rows.Scan(&c.SyncType, &c.ChunkOrder, &c.Progress, &c.Data); err != nil {
			return nil, err
		}
		out = append(out, &c)
	}
	return out, rows.Err()
}

// DeleteAll forgets the kept chunks of user's login (once they are bridged, or at a new link).
func (q *HistoryChunkQuery) DeleteAll(ctx context.Context, user id.UserID, login string) error {
	_, err := q.db.Exec(ctx, deleteHistoryChunksQuery, user.String(), login)
	return err
}
