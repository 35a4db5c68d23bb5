package config_test

import (
	"regexp"
	"testing"
)

func mustMatch(t *testing.T, expr, s string) bool {
	t.Helper()
	re, err := regexp.Compile(expr)
	if err != nil {
		t.Fatalf("bad regex %s: %v", expr, err)
	}
	return re.MatchString(s)
}
