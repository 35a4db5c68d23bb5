// Package upgrades holds the bridge's versioned schema as numbered SQL files embedded into the binary.
//
// Each file starts with a header line such as `-- v1: Initial schema` that dbutil reads to build the
// upgrade table. A file is shared by PostgreSQL and SQLite; lines that must differ are marked with
// dbutil's `-- only: postgres` / `-- only: sqlite` filters, and a whole upgrade that cannot be shared
// is written as a `NN-name.postgres.sql` / `NN-name.sqlite.sql` pair.
package upgrades

import (
	"embed"

	"go.mau.fi/util/dbutil"
)

//go:embed *.sql
var files embed.FS

// Table is the bridge's upgrade table, in version order.
var Table = dbutil.BuildUpgradeTable().WithFS(files).Finish()
