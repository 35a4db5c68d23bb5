package wasim

import (
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
)

// groupQueryLimit is the server's limit on group queries (group info and joined groups) per
// account, in a fixed window. The zero value is no limit. Guarded by srv.stateLock.
type groupQueryLimit struct {
	limit  int
	window time.Duration
	// used counts each account's queries in its current window, which started at start.
	used  map[*Account]int
	start map[*Account]time.Time
}

// SetGroupQueryLimit lets each account make at most limit group queries (<query> of one group,
// <participating> for the joined groups) per window; past it they are answered with IQ error
// 429 rate-overlimit, which whatsmeow returns as ErrIQRateOverLimit (errors.go). The window starts
// at an account's first query after the previous one ended. limit 0 removes the limit and forgets
// the counts.
func (s *Server) SetGroupQueryLimit(limit int, window time.Duration) {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	s.groupLimit = groupQueryLimit{limit: limit, window: window}
}

// isGroupQuery reports whether a w:g2 IQ child counts against the group query limit.
func isGroupQuery(child *waBinary.Node) bool {
	return child.Tag == "query" || child.Tag == "participating"
}

// allowGroupQueryLocked counts one group query of acct and reports whether it is within the
// limit. Caller holds stateLock.
func (s *Server) allowGroupQueryLocked(acct *Account) bool {
	l := &s.groupLimit
	if l.limit <= 0 {
		return true
	}
	if l.used == nil {
		l.used = make(map[*Account]int)
		l.start = make(map[*Account]time.Time)
	}
	now := time.Now()
	if start, ok := l.start[acct]; !ok || now.Sub(start) >= l.window {
		l.start[acct] = now
		l.used[acct] = 0
	}
	l.used[acct]++
	return l.used[acct] <= l.limit
}
