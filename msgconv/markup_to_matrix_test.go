package msgconv

import (
	"context"
	"slices"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func TestTextToMatrix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		text     string
		mentions []types.JID
		body     string // defaults to text
		html     string // empty: no formatted body expected
		userIDs  []id.UserID
	}{
		{name: "plain", text: "hello world"},
		{name: "empty", text: ""},
		{name: "bold", text: "*bold*", html: "<strong>bold</strong>"},
		{name: "italic", text: "an _italic_ word", html: "an <em>italic</em> word"},
		{name: "strike", text: "~gone~", html: "<del>gone</del>"},
		{name: "inline code", text: "run `ls -la` now", html: "run <code>ls -la</code> now"},
		{name: "triple backticks mid-line", text: "run ```ls -la``` now", html: "run <code>ls -la</code> now"},
		{name: "all styles", text: "*b* _i_ ~s~ `c`", html: "<strong>b</strong> <em>i</em> <del>s</del> <code>c</code>"},
		{name: "marker inside word", text: "snake_case_name and file_name_v2.txt"},
		{name: "multiplication", text: "2*3*4 = 24"},
		{name: "tilde in word", text: "a~b~c"},
		{name: "space after opener", text: "a * not bold*"},
		{name: "space before closer", text: "*not bold *"},
		{name: "spaces both sides", text: "a _ b _ c"},
		{name: "unclosed", text: "*bold and _italic"},
		{name: "unclosed code", text: "open `code here"},
		{name: "closer followed by letter", text: "*bold*er"},
		{name: "lone markers", text: "x * _ ~ ` ```"},
		{name: "empty markers", text: "** __ ~~"},
		{name: "markers across lines", text: "*start\nend*", body: "*start\nend*"},
		{name: "punctuation around", text: "(*bold*), \"_it_\"!", html: "(<strong>bold</strong>), &#34;<em>it</em>&#34;!"},
		{name: "nested", text: "*bold _and italic_ text*", html: "<strong>bold <em>and italic</em> text</strong>"},
		{name: "nested three", text: "~*_all_*~", html: "<del><strong><em>all</em></strong></del>"},
		{name: "first closer wins", text: "*a* b*", html: "<strong>a</strong> b*"},
		{name: "code keeps markers", text: "`*not bold* _x_`", html: "<code>*not bold* _x_</code>"},
		{name: "bold around code with marker", text: "*use `a*b` here*", html: "<strong>use <code>a*b</code> here</strong>"},
		{name: "whole-line code block", text: "```*x* _y_```", html: "<pre><code>*x* _y_</code></pre>"},
		{
			name: "multi-line code block",
			text: "look:\n```\nfunc f() {\n\treturn a*b*c\n}\n```\ndone",
			html: "look:<pre><code>\nfunc f() {\n\treturn a*b*c\n}\n</code></pre>done",
		},
		{name: "code block ending in a newline", text: "```0\n```", html: "<pre><code>0\n\n</code></pre>"},
		{name: "code block opened mid-line", text: "see ```a\nb``` end", html: "see <pre><code>a\nb</code></pre> end"},
		{name: "empty code block", text: "```\n```"},
		{name: "html special characters", text: "a < b && c > d"},
		{name: "html escaped in formatting", text: "*<b>x</b>* & 'q'", html: "<strong>&lt;b&gt;x&lt;/b&gt;</strong> &amp; &#39;q&#39;"},
		{name: "entity text", text: "_&amp;_", html: "<em>&amp;amp;</em>"},
		{name: "emoji", text: "🎉*party*🎉 _ünïcödé_", html: "🎉<strong>party</strong>🎉 <em>ünïcödé</em>"},
		{name: "letter before marker (non-latin)", text: "дом*x* ok"},
		{name: "quote", text: "> quoted", html: "<blockquote>quoted</blockquote>"},
		{
			name: "multi-line quote",
			text: "> line one\n> *line two*\n>\n> three\nmy reply",
			html: "<blockquote>line one<br><strong>line two</strong><br><br>three</blockquote>my reply",
		},
		{name: "nested quote", text: "> > inner\n> outer", html: "<blockquote><blockquote>inner</blockquote>outer</blockquote>"},
		{name: "quote without space", text: ">not a quote"},
		{name: "lone quote marker is text", text: ">\n0"},
		{name: "lone marker continues a quote", text: "> a\n>\n> b", html: "<blockquote>a<br><br>b</blockquote>"},
		{name: "blank line after quote", text: "> q\n\nreply", html: "<blockquote>q</blockquote><br>reply"},
		{name: "dash list", text: "- one\n- *two*", html: "<ul><li>one</li><li><strong>two</strong></li></ul>"},
		{name: "star list", text: "* one\n* two", html: "<ul><li>one</li><li>two</li></ul>"},
		{name: "numbered list", text: "1. first\n2. second", html: "<ol><li>first</li><li>second</li></ol>"},
		{name: "numbered list start", text: "3. c\n4. d", html: `<ol start="3"><li>c</li><li>d</li></ol>`},
		{name: "list then text", text: "todo:\n- a\n- b\nthanks", html: "todo:<ul><li>a</li><li>b</li></ul>thanks"},
		{name: "list in quote", text: "> - a\n> - b", html: "<blockquote><ul><li>a</li><li>b</li></ul></blockquote>"},
		{name: "not a list", text: "-not\n1.not\n2023. was a year\n- \n1. "},
		{name: "star line is a list item", text: "* not bold*", html: "<ul><li>not bold*</li></ul>"},
		{name: "url untouched", text: "see https://example.com/some_path_here_/x*y* ok"},
		{name: "www url", text: "www.example.com/_a_"},
		{name: "link without scheme", text: "see example.org/_draft_/notes.txt"},
		{name: "ip address link", text: "see 10.0.0.1/_x_ now"},
		{name: "ip address with port", text: "at 192.168.1.1:8080/*a*/_b_ now"},
		{name: "not an ip address", text: "v1.2.3.4.5/_x_", html: "v1.2.3.4.5/<em>x</em>"},
		{name: "ip octet over 255", text: "300.1.1.1/_x_", html: "300.1.1.1/<em>x</em>"},
		{name: "nested bullet list", text: "- one\n  - two\n- three", html: "<ul><li>one<ul><li>two</li></ul></li><li>three</li></ul>"},
		{name: "nested numbered list", text: "1. a\n   1. b\n   2. _c_\n2. d", html: "<ol><li>a<ol><li>b</li><li><em>c</em></li></ol></li><li>d</li></ol>"},
		{name: "indented text under an item", text: "- one\n  more\n- two", html: "<ul><li>one<br>more</li><li>two</li></ul>"},
		{name: "one space is no nesting", text: "- one\n - two", html: "<ul><li>one</li></ul> - two"},
		{name: "link without scheme with port and query", text: "at example.co.uk:8080/a_b_c?q=*x* now"},
		{name: "bare domain followed by italic", text: "example.org _it_", html: "example.org <em>it</em>"},
		{name: "email address", text: "mail _first_last_@example.org please"},
		{name: "file name is not a link", text: "open notes_v2_.txt and _draft_.txt", html: "open notes_v2_.txt and <em>draft</em>.txt"},
		{name: "italic bare link", text: "_example.org_", html: "<em>example.org</em>"},
		{name: "bold url", text: "*https://example.com/a_b*", html: "<strong>https://example.com/a_b</strong>"},
		{
			name:     "mention",
			text:     "hi @4915112345678!",
			mentions: []types.JID{bob.jid},
			body:     "hi Bob!",
			html:     "hi " + pill(bob) + "!",
			userIDs:  []id.UserID{bob.userID},
		},
		{
			name:     "lid mention",
			text:     "@123456789012345 look",
			mentions: []types.JID{carol.jid},
			body:     "Carol look",
			html:     pill(carol) + " look",
			userIDs:  []id.UserID{carol.userID},
		},
		{
			name:     "mention of the user themself",
			text:     "thanks @4900000000001",
			mentions: []types.JID{alice.jid},
			body:     "thanks Alice",
			html:     "thanks " + pill(alice),
			userIDs:  []id.UserID{alice.userID},
		},
		{name: "mention of unknown jid", text: "hey @4917000000000", mentions: []types.JID{stranger}},
		{name: "digits not in mention list", text: "call @4915112345678"},
		{name: "email is not a mention", text: "mail x@4915112345678", mentions: []types.JID{bob.jid}},
		{name: "mention in code", text: "`@4915112345678`", mentions: []types.JID{bob.jid}, html: "<code>@4915112345678</code>"},
		{
			name:     "mention with html name",
			text:     "@4911111111111",
			mentions: []types.JID{dave.jid},
			body:     "<Dave & Co>",
			html:     `<a href="https://matrix.to/#/@whatsapp_4911111111111:example.org">&lt;Dave &amp; Co&gt;</a>`,
			userIDs:  []id.UserID{dave.userID},
		},
		{
			name:     "repeated and bold mentions",
			text:     "*@4915112345678* and @4915112345678, @123456789012345",
			mentions: []types.JID{bob.jid, carol.jid, bob.jid},
			body:     "*Bob* and Bob, Carol",
			html:     "<strong>" + pill(bob) + "</strong> and " + pill(bob) + ", " + pill(carol),
			userIDs:  []id.UserID{bob.userID, carol.userID},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			content := TextToMatrix(context.Background(), tt.text, tt.mentions, &testResolver{})
			wantBody := tt.body
			if wantBody == "" {
				wantBody = tt.text
			}
			if content.MsgType != event.MsgText {
				t.Errorf("msgtype = %q, want m.text", content.MsgType)
			}
			if content.Body != wantBody {
				t.Errorf("body = %q, want %q", content.Body, wantBody)
			}
			if tt.html == "" {
				if content.Format != "" || content.FormattedBody != "" {
					t.Errorf("unexpected formatted body %q (format %q)", content.FormattedBody, content.Format)
				}
			} else {
				if content.Format != event.FormatHTML {
					t.Errorf("format = %q, want %q", content.Format, event.FormatHTML)
				}
				if content.FormattedBody != tt.html {
					t.Errorf("formatted_body =\n  %q\nwant\n  %q", content.FormattedBody, tt.html)
				}
			}
			if content.Mentions == nil {
				t.Fatal("m.mentions is nil")
			}
			if !slices.Equal(content.Mentions.UserIDs, tt.userIDs) {
				t.Errorf("m.mentions user_ids = %v, want %v", content.Mentions.UserIDs, tt.userIDs)
			}
		})
	}
}

func TestTextToMatrixResolvesEachJIDOnce(t *testing.T) {
	t.Parallel()
	r := &testResolver{}
	TextToMatrix(context.Background(), "@4915112345678 @4915112345678 @4915112345678", []types.JID{bob.jid}, r)
	if r.calls != 1 {
		t.Errorf("resolver called %d times, want 1", r.calls)
	}
}

func TestTextToMatrixNilResolver(t *testing.T) {
	t.Parallel()
	content := TextToMatrix(context.Background(), "hi @4915112345678", []types.JID{bob.jid}, nil)
	if content.Body != "hi @4915112345678" || content.FormattedBody != "" {
		t.Errorf("got body %q, formatted %q; want the mention left as text", content.Body, content.FormattedBody)
	}
}

func TestTextToMatrixEmptyDisplayName(t *testing.T) {
	t.Parallel()
	resolve := MentionResolverFunc(func(context.Context, types.JID) (id.UserID, string, bool) {
		return "@whatsapp_1:example.org", "", true
	})
	content := TextToMatrix(context.Background(), "@1", []types.JID{types.NewJID("1", types.DefaultUserServer)}, resolve)
	if content.Body != "@whatsapp_1:example.org" {
		t.Errorf("body = %q, want the user ID in place of the missing name", content.Body)
	}
}
