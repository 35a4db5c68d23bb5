package bridge

import "testing"

// TestUnbridgedRowsOnlyForTheFirstAttempt: a Matrix inbox row known unbridged is so for the first
// attempt to handle it only, whichever copy of the row that attempt handles; a row not stored as
// unbridged never is.
func TestUnbridgedRowsOnlyForTheFirstAttempt(t *testing.T) {
	var u unbridgedRows
	u.add(7)
	if u.take(8) {
		t.Error("a row not stored as unbridged was taken for one")
	}
	if !u.take(7) {
		t.Fatal("the first attempt did not find its row unbridged")
	}
	if u.take(7) {
		t.Error("a second attempt found the row unbridged again")
	}
}
