package format

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestZZSlow(t *testing.T) {
	for _, s := range []string{strings.Repeat("*`a ", 3000), strings.Repeat("*a ", 20000), strings.Repeat("*_~", 5000) + "x", strings.Repeat("> ", 5000) + "x", strings.Repeat("https://a ", 10000), strings.Repeat("```\n", 5000)} {
		start := time.Now()
		c := WhatsAppToMatrix(context.Background(), s, fuzzMentions, &testResolver{})
		t1 := time.Since(start)
		MatrixToWhatsApp(context.Background(), c, &testResolver{})
		t.Logf("%q: %v %v", s[:10], t1, time.Since(start))
	}
}
