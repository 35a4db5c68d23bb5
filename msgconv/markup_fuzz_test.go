package msgconv

import (
	"context"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.mau.fi/whatsmeow/types"
	xhtml "golang.org/x/net/html"
	"maunium.net/go/mautrix/event"
)

var fuzzMentions = []types.JID{bob.jid, carol.jid, alice.jid, dave.jid, stranger}

func FuzzTextToMatrix(f *testing.F) {
	for _, seed := range []string{
		"", "plain", "*bold* _it_ ~s~ `c`", "snake_case_name 2*3*4", "*a _b* c_", "> q\n>\n> r\nx",
		"- a\n* b\n1. c", "```\ncode\n```", "see ```a\nb``` end", "@4915112345678 @123456789012345 @4917000000000",
		"https://e.com/a_b *x*", "see example.org/_draft_/notes.txt", "10.0.0.1/_x_", "- one\n  - two\n- three", "a_b@example.org _x_", "🎉*é*🎉", "<b>&amp;</b>", "```", "*`*`*", "> ```a\n> b```",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ctx := context.Background()
		content := TextToMatrix(ctx, text, fuzzMentions, &testResolver{})
		if content == nil || content.Mentions == nil {
			t.Fatal("nil content or m.mentions")
		}
		if text != "" && content.Body == "" {
			t.Fatalf("empty body for %q", text)
		}
		if (content.Format == event.FormatHTML) != (content.FormattedBody != "") {
			t.Fatalf("format %q does not match formatted_body %q", content.Format, content.FormattedBody)
		}
		if utf8.ValidString(text) && (!utf8.ValidString(content.Body) || !utf8.ValidString(content.FormattedBody)) {
			t.Fatalf("invalid UTF-8 output for valid input %q", text)
		}
		if err := checkBalanced(content.FormattedBody); err != "" {
			t.Fatalf("formatted_body of %q is not well-formed (%s): %q", text, err, content.FormattedBody)
		}
		for _, userID := range content.Mentions.UserIDs {
			if !strings.Contains(content.FormattedBody, `href="https://matrix.to/#/`+string(userID)+`"`) {
				t.Fatalf("mentioned %s without a pill in %q", userID, content.FormattedBody)
			}
		}
		back, _ := TextToWhatsApp(ctx, content, &testResolver{})
		if strings.TrimSpace(text) != "" && back == "" {
			t.Fatalf("%q came back empty (html %q)", text, content.FormattedBody)
		}
	})
}

// hasBlockLikeText reports whether the text of html has a ">" or a piece that starts like a list
// item ("- ", "* ", "1. "): literal text that WhatsApp shows as a quote or list, having no escape
// for it, so it is outside the round trip.
func hasBlockLikeText(html string) bool {
	z := xhtml.NewTokenizer(strings.NewReader(html))
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			return false
		case xhtml.TextToken:
			// The HTML parser the writer uses drops NUL characters from text, so "0.\x00 x"
			// reaches WhatsApp as the list line "0. x".
			text := strings.ReplaceAll(string(z.Text()), "\x00", "")
			if strings.Contains(text, ">") {
				return true
			}
			// Also as the writer sees it: cleanText turns a line break in text into a space, so
			// "00.\n0" is written as the list line "00. 0".
			for _, line := range append(strings.Split(text, "\n"), cleanText(text)) {
				line = strings.TrimLeft(line, " \t")
				if _, _, ok := listItem(line); ok || strings.HasPrefix(line, "-") || strings.HasPrefix(line, "*") {
					return true
				}
				// A number and a dot whose item text comes from the next element ("0. <a>x</a>").
				if digits := len(line) - len(strings.TrimLeft(line, "0123456789")); digits > 0 && digits <= 3 && strings.HasPrefix(line[digits:], ".") {
					return true
				}
			}
		}
	}
}

// checkBalanced reports the first unbalanced tag in s, or "".
func checkBalanced(s string) string {
	var stack []string
	z := xhtml.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			if len(stack) > 0 {
				return "unclosed <" + stack[len(stack)-1] + ">"
			}
			return ""
		case xhtml.StartTagToken:
			name, _ := z.TagName()
			if string(name) != "br" {
				stack = append(stack, string(name))
			}
		case xhtml.EndTagToken:
			name, _ := z.TagName()
			if len(stack) == 0 || stack[len(stack)-1] != string(name) {
				return "stray </" + string(name) + ">"
			}
			stack = stack[:len(stack)-1]
		}
	}
}

func FuzzTextToWhatsApp(f *testing.F) {
	for _, seed := range []struct {
		body, html string
		reply      bool
	}{
		{"plain", "", false},
		{"> <@a:b> x\n\nanswer", "", true},
		{"x", "<b>bold</b> <i>it</i> <del>s</del> <code>c</code>", false},
		{"x", "<pre><code>a\nb\n</code></pre>", false},
		{"x", "<blockquote><p>a</p><p>b</p></blockquote><ul><li>1</li></ul><ol start=\"3\"><li>x</li></ol>", false},
		{"x", pill(bob) + " " + pill(carol) + ` <a href="https://matrix.to/#/@eve:x.org">Eve</a>`, false},
		{"x", "<mx-reply><blockquote>q</blockquote></mx-reply>answer", true},
		{"fallback", "<b></b>", false},
		{"x", "<b>unclosed <i>tags", false},
		{"x", `<a href="https://e.com">t</a> <img alt=":e:"> &lt;&amp;&#0;`, false},
		{`¯\_(ツ)_/¯ *a* ` + "`c` ```\nx\n```", "", false},
		{"x", "<ul><li>one<ul><li>two</li></ul></li><li>three</li></ul><p>after</p>", false},
		{"x", "<ol><li>a</li></ol><blockquote>q</blockquote><strong>*already*</strong>", false},
		{"x", `<ol start="-3"><li>a</li></ol><table><tr><td>a</td><td>b</td></tr></table>`, false},
		{"x", "0<ul><ul><li>1</ul><ol ><li>xl", false},
	} {
		f.Add(seed.body, seed.html, seed.reply)
	}
	f.Fuzz(func(t *testing.T, body, formatted string, isReply bool) {
		content := &event.MessageEventContent{MsgType: event.MsgText, Body: body}
		if formatted != "" {
			content.Format = event.FormatHTML
			content.FormattedBody = formatted
		}
		if isReply {
			content.RelatesTo = &event.RelatesTo{InReplyTo: &event.InReplyTo{EventID: "$x"}}
		}
		text, mentions := TextToWhatsApp(context.Background(), content, &testResolver{})
		if content.Body != body || content.FormattedBody != formatted {
			t.Fatal("the content was modified")
		}
		fallback := body
		if isReply {
			fallback = event.TrimReplyFallbackText(body)
		}
		if formatted == "" && strings.ReplaceAll(text, string(wordJoiner), "") != strings.ReplaceAll(fallback, string(wordJoiner), "") {
			t.Fatalf("body-only message %q became %q, want %q plus word joiners", body, text, fallback)
		}
		if formatted == "" && utf8.ValidString(text) {
			// What WhatsApp shows of a plain Matrix body is the body as typed: no styles or code
			// (quote and list lines look the same either way).
			shown := TextToMatrix(context.Background(), text, nil, nil).FormattedBody
			for _, tag := range []string{"<strong>", "<em>", "<del>", "<code>"} {
				if strings.Contains(shown, tag) {
					t.Fatalf("plain body %q is shown formatted on WhatsApp: %q", body, shown)
				}
			}
		}
		if text == "" && fallback != "" {
			t.Fatalf("empty text for body %q, html %q", body, formatted)
		}
		// The text came from the HTML unless that converts to nothing; then from the body, whose
		// list and quote lines WhatsApp shows as such ("* a" comes back as "- a").
		source := formatted
		if formatted == "" || strings.TrimSpace((&waWriter{ctx: context.Background(), resolve: &testResolver{}}).convert(formatted)) == "" {
			source = xhtml.EscapeString(fallback)
		}
		if utf8.ValidString(text) && !strings.ContainsRune(text, '\r') && !hasBlockLikeText(source) {
			// Round trip: what WhatsApp shows of the bridge's text, bridged back to Matrix, is
			// written the same way again (lists, nesting, quotes, styles and literal markers).
			shown := TextToMatrix(context.Background(), text, nil, nil)
			if again, _ := TextToWhatsApp(context.Background(), shown, nil); again != text {
				t.Fatalf("html %q became %q, shown as %q, which came back as %q", formatted, text, shown.FormattedBody, again)
			}
		}
		if utf8.ValidString(body) && utf8.ValidString(formatted) && !utf8.ValidString(text) {
			t.Fatalf("invalid UTF-8 output %q", text)
		}
		for i, jid := range mentions {
			if slices.Contains(mentions[:i], jid) {
				t.Fatalf("duplicate mention %s", jid)
			}
			if !strings.Contains(text, "@"+jid.User) {
				t.Fatalf("mention %s not written in %q", jid, text)
			}
		}
	})
}
