package database

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"
)

const (
	markTxnProcessedQuery = `
		INSERT INTO appservice_txns (txn_id, processed_at) VALUES ($1, $2)
		ON CONFLICT (txn_id) DO NOTHING
	`
	isTxnProcessedQuery = `SELECT EXISTS(SELECT 1 FROM appservice_txns WHERE txn_id=$1)`
	pruneTxnsQuery      = `DELETE FROM appservice_txns WHERE processed_at < $1`
)

// AppserviceTxnQuery remembers which appservice transactions from the homeserver have been
// accepted, so that a transaction the homeserver sends again is acknowledged but not processed twice.
type AppserviceTxnQuery struct {
	db *dbutil.Database
}

// MarkProcessed records txnID as processed and reports whether it already was. It is atomic: when
// several callers mark the same ID at once, exactly one gets alreadyProcessed == false. Inside a
// DB.DoTxn transaction the mark is part of that transaction.
func (tq *AppserviceTxnQuery) MarkProcessed(ctx context.Context, txnID string) (alreadyProcessed bool, err error) {
	res, err := tq.db.Exec(ctx, markTxnProcessedQuery, txnID, time.Now().UnixMilli())
	if err != nil {
		return false, fmt.Errorf("failed to mark appservice transaction as processed: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("failed to check appservice transaction mark: %w", err)
	}
	return n == 0, nil
}

// IsProcessed reports whether txnID has been marked as processed.
func (tq *AppserviceTxnQuery) IsProcessed(ctx context.Context, txnID string) (processed bool, err error) {
	err = tq.db.QueryRow(ctx, isTxnProcessedQuery, txnID).Scan(&processed)
	return processed, err
}

// Prune forgets transactions processed more than maxAge ago and returns how many were removed.
// Homeservers retry a transaction within minutes, so a few days of memory is plenty.
func (tq *AppserviceTxnQuery) Prune(ctx context.Context, maxAge time.Duration) (int64, error) {
	res, err := tq.db.Exec(ctx, pruneTxnsQuery, time.Now().Add(-maxAge).UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("failed to prune appservice transactions: %w", err)
	}
	return res.RowsAffected()
}
