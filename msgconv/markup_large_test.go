package msgconv

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestLargeInputsStayFast feeds inputs that made an earlier parser cubic or
// quadratic (a minute and more for the first one). Each now takes a few
// milliseconds; the bound is loose so that -race and slow machines pass.
func TestLargeInputsStayFast(t *testing.T) {
	t.Parallel()
	const bound = 10 * time.Second
	ctx := context.Background()
	for _, text := range []string{
		strings.Repeat("*`a ", 12000),
		strings.Repeat("*a ", 20000),
		strings.Repeat("*_~", 15000) + "x",
		strings.Repeat("> ", 20000) + "x",
		strings.Repeat("```\n", 10000),
		strings.Repeat("https://a ", 5000),
	} {
		start := time.Now()
		content := TextToMatrix(ctx, text, fuzzMentions, &testResolver{})
		back, _ := TextToWhatsApp(ctx, content, &testResolver{})
		if took := time.Since(start); took > bound {
			t.Errorf("round trip of %q... (%d bytes) took %v", text[:12], len(text), took)
		}
		if back == "" {
			t.Errorf("round trip of %q... came back empty", text[:12])
		}
	}
	for _, formatted := range []string{
		strings.Repeat("a <div>b</div>", 20000),
		strings.Repeat("<p>a</p>", 20000),
		strings.Repeat("a<br>", 20000),
		strings.Repeat("<blockquote>a ", 10000),
		strings.Repeat("<i><b>a</b> ", 20000),
	} {
		start := time.Now()
		text, _ := TextToWhatsApp(ctx, htmlMsg("x", formatted), &testResolver{})
		if took := time.Since(start); took > bound {
			t.Errorf("converting %q... (%d bytes) took %v", formatted[:12], len(formatted), took)
		}
		// Nesting deeper than the HTML parser's limit (512) falls back to the body.
		if text == "" {
			t.Errorf("converting %q... gave no text", formatted[:12])
		}
	}
}
