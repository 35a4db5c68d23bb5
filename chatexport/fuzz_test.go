package chatexport_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/matrix-whatsapp/matrix-whatsapp/chatexport"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/exportgen"
)

// FuzzParse: Parse never panics, and every line of its input ends up in exactly one message or
// one unparsed line (blank lines before the first message aside), in order.
func FuzzParse(f *testing.F) {
	for _, style := range exportgen.Styles {
		f.Add(exportgen.Text(style, "Book club", conversation(time.UTC), true))
		f.Add(exportgen.Text(style, "Book club", conversation(time.UTC)[:3], false))
	}
	f.Add("31/02/2023, 21:42 - Alice: no 31 February\nmore\n")
	f.Add("\u200e[1/2/24, 12:05:00\u202fAM] \u202a+1 555 0100\u202c: \u200e<attached: 0001-PHOTO.jpg>\n")
	f.Fuzz(func(t *testing.T, text string) {
		res, err := chatexport.Parse(text, time.UTC)
		if err != nil {
			return
		}
		if !utf8.ValidString(text) {
			t.Fatal("accepted text that is not UTF-8")
		}
		lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
		covered := make([]int, len(lines)+1)
		last := 0
		for _, m := range res.Messages {
			if m.Line <= last {
				t.Fatalf("message at line %d after line %d", m.Line, last)
			}
			last = m.Line
			covered[m.Line]++
		}
		for _, l := range res.Unparsed {
			covered[l.No]++
		}
		for i, n := range covered {
			if n > 1 {
				t.Fatalf("line %d counted %d times", i, n)
			}
		}
	})
}
