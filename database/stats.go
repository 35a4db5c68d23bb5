package database

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

const (
	countPortalRoomsQuery  = `SELECT COUNT(*) FROM portals WHERE mxid IS NOT NULL AND mxid <> ''`
	countPuppetsQuery      = `SELECT COUNT(*) FROM puppets`
	pendingInboxStatsQuery = `SELECT COUNT(*), MIN(received_at) FROM matrix_inbox WHERE state='pending'`
)

// Stats is what monitoring reads from the database: sizes and both inboxes' backlogs.
type Stats struct {
	// Portals counts the portals that have a Matrix room; Ghosts every ghost (puppets row).
	Portals, Ghosts int
	// InboxPending counts the Matrix events stored and not handled yet; InboxOldest is when the
	// oldest of them was received (zero when none is pending).
	InboxPending int
	InboxOldest  time.Time
	// WAInboxPending and WAInboxOldest are the same for the WhatsApp inbox.
	WAInboxPending int
	WAInboxOldest  time.Time
}

// Stats reads the counts of Stats in four small queries. It fails when the database does not
// answer within ctx. The inbox backlogs may count rows whose settlement is held for a later
// statement (MessageQuery.InsertHeld), for up to HeldDelay.
func (db *Database) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	if err := db.DB.QueryRow(ctx, countPortalRoomsQuery).Scan(&s.Portals); err != nil {
		return s, fmt.Errorf("failed to count portals: %w", err)
	}
	if err := db.DB.QueryRow(ctx, countPuppetsQuery).Scan(&s.Ghosts); err != nil {
		return s, fmt.Errorf("failed to count ghosts: %w", err)
	}
	var oldest sql.NullInt64
	if err := db.DB.QueryRow(ctx, pendingInboxStatsQuery).Scan(&s.InboxPending, &oldest); err != nil {
		return s, fmt.Errorf("failed to read the Matrix inbox backlog: %w", err)
	}
	if oldest.Valid {
		s.InboxOldest = fromUnixMilli(oldest.Int64)
	}
	var waOldest sql.NullInt64
	if err := db.DB.QueryRow(ctx, pendingWAInboxStatsQuery).Scan(&s.WAInboxPending, &waOldest); err != nil {
		return s, fmt.Errorf("failed to read the WhatsApp inbox backlog: %w", err)
	}
	if waOldest.Valid {
		s.WAInboxOldest = fromUnixMilli(waOldest.Int64)
	}
	return s, nil
}

// Ping checks that the database answers a trivial query within ctx (readiness checks).
func (db *Database) Ping(ctx context.Context) error {
	var one int
	if err := db.DB.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("database does not answer: %w", err)
	}
	return nil
}
