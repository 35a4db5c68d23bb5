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
		"https://e.com/a_b *x*", "see example.org/_draft_/notes.txt", "a_b@example.org _x_", "🎉*é*🎉", "<b>&amp;</b>", "```", "*`*`*", "> ```a\n> b```",
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
