package testdb

import (
	"database/sql"
	"testing"
)

// TestClusterSurvivesRestart: a private cluster keeps its rows across a fast stop and a crash-like
// immediate stop, and answers on the same port afterwards.
func TestClusterSurvivesRestart(t *testing.T) {
	t.Parallel()
	c := NewCluster(t)
	db, err := sql.Open("postgres", c.URI())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err = db.Exec("CREATE TABLE kept (n INTEGER); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"fast", "immediate"} {
		c.Stop(mode)
		if err = db.Ping(); err == nil {
			t.Fatalf("the cluster still answers after a %s stop", mode)
		}
		c.Start()
		var n int
		if err = db.QueryRow("SELECT n FROM kept").Scan(&n); err != nil || n != 42 {
			t.Fatalf("after a %s stop the row reads %d (%v), want 42", mode, n, err)
		}
	}
}
