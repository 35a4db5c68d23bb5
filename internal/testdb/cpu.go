package testdb

import (
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BackendPIDs returns the process IDs of the PostgreSQL backends connected to the database at uri
// (a pool's connections, opened before the call), not counting the connection it makes itself.
func BackendPIDs(tb testing.TB, uri string) []int {
	tb.Helper()
	conn, err := sql.Open("postgres", uri)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var pid int
		if err = rows.Scan(&pid); err != nil {
			tb.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// BackendsCPU sums the user and system CPU time of pids from /proc/<pid>/stat (clock ticks of
// 10 ms): PostgreSQL must run on this machine. A process that is gone counts nothing.
func BackendsCPU(pids []int) time.Duration {
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

// ProcessCPU is this process's user and system CPU time so far.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
