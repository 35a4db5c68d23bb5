package database

import (
	"context"
	"database/sql"
	"errors"

	"go.mau.fi/util/dbutil"
)

const (
	getBridgeStateQuery = `SELECT value FROM bridge_state WHERE key=$1`
	setBridgeStateQuery = `INSERT INTO bridge_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value=excluded.value`
)

// BridgeStateQuery reads and writes the bridge_state table: small named values the bridge keeps
// across restarts (e.g. where the bot's /sync loop resumes).
type BridgeStateQuery struct {
	db *dbutil.Database
}

// Get returns the value stored under key, or "" when there is none.
func (q *BridgeStateQuery) Get(ctx context.Context, key string) (string, error) {
	var value string
	err := q.db.QueryRow(ctx, getBridgeStateQuery, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return value, err
}

// Set stores value under key, replacing what was there.
func (q *BridgeStateQuery) Set(ctx context.Context, key, value string) error {
	_, err := q.db.Exec(ctx, setBridgeStateQuery, key, value)
	return err
}
