package bridge

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestRenderNoticeFits: a notice quoting a huge input still fits in one event, says it was cut,
// and stays valid UTF-8; a short one is left alone.
func TestRenderNoticeFits(t *testing.T) {
	t.Parallel()
	for _, markdown := range []string{
		"Unknown command `" + strings.Repeat("a", 60000) + "`.",
		"`" + strings.Repeat(`"<&>`, 20000) + "` is not a phone number.", // HTML escapes grow it
		strings.Repeat("😀", 30000),
	} {
		c := renderNotice(markdown)
		if size := len(c.Body) + len(c.FormattedBody); size > maxNoticeBytes {
			t.Errorf("notice of %d bytes of markdown is %d bytes, over %d", len(markdown), size, maxNoticeBytes)
		}
		if !strings.HasSuffix(c.Body, "too long for one message)") || !utf8.ValidString(c.Body) || !utf8.ValidString(c.FormattedBody) {
			t.Errorf("cut notice ends %q", c.Body[max(0, len(c.Body)-80):])
		}
	}
	if c := renderNotice("Unknown command `frobnicate`."); c.Body != "Unknown command `frobnicate`." || c.MsgType != "m.notice" {
		t.Errorf("short notice rendered as %+v", c)
	}
}
