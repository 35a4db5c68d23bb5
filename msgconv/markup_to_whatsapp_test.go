package msgconv

import (
	"context"
	"slices"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func htmlMsg(body, formatted string) *event.MessageEventContent {
	return &event.MessageEventContent{MsgType: event.MsgText, Body: body, Format: event.FormatHTML, FormattedBody: formatted}
}

func plain(body string) *event.MessageEventContent {
	return &event.MessageEventContent{MsgType: event.MsgText, Body: body}
}

func reply(content *event.MessageEventContent) *event.MessageEventContent {
	content.RelatesTo = &event.RelatesTo{InReplyTo: &event.InReplyTo{EventID: "$original"}}
	return content
}

func TestTextToWhatsApp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		content  *event.MessageEventContent
		text     string
		mentions []types.JID
	}{
		{name: "nil content", content: nil, text: ""},
		{name: "plain body", content: plain("hello world"), text: "hello world"},
		{name: "plain body keeps markers that cannot format", content: plain("2*3*4 <b> &amp; snake_case *unclosed"), text: "2*3*4 <b> &amp; snake_case *unclosed"},
		{name: "shrug keeps its arms", content: plain(`¯\_(ツ)_/¯`), text: "¯\\\u2060_(ツ)_/¯"},
		{name: "plain body markers get a word joiner", content: plain("*x* _y_ ~z~ `c`"), text: "\u2060*x* \u2060_y_ \u2060~z~ \u2060`c`"},
		{name: "plain code fence", content: plain("```\ncode\n```"), text: "\u2060```\ncode\n```"},
		{name: "html text markers get a word joiner", content: htmlMsg("x", "<b>bold</b> and *stars* ¯\\_(ツ)_/¯"), text: "*bold* and \u2060*stars* ¯\\\u2060_(ツ)_/¯"},
		{name: "markers inside a url are untouched", content: plain("see https://e.com/_a_ and example.org/_b_"), text: "see https://e.com/_a_ and example.org/_b_"},
		{name: "literal marker inside intended bold", content: htmlMsg("x", "<b>a _b_ c</b>"), text: "*a \u2060_b_ c*"},
		{name: "plain emoji", content: plain("🎉 yay"), text: "🎉 yay"},
		{name: "literal stars filling a bold", content: htmlMsg("x", "<strong>*already*</strong>"), text: "**already*\u2060*"},
		{name: "literal backtick before code", content: htmlMsg("x", "`<code>0</code>"), text: "\u2060``0`"},
		{name: "code after a word set apart by a space", content: htmlMsg("x", "run<code>ls</code>"), text: "run `ls`"},
		{name: "literal opener pairing with a later bold", content: htmlMsg("x", "*x <b>y</b>"), text: "\u2060*x *y*"},
		{name: "literal tilde before a strike", content: htmlMsg("x", "~<del>a</del>"), text: "\u2060~~a~"},
		{name: "marker in a link text matched to its address", content: htmlMsg("x", `<a href="https://a_b.com">a_b.com</a>`), text: "a_b.com"},
		{name: "list in a span after a quote keeps a blank line", content: htmlMsg("x", "<blockquote>q</blockquote><span><ol><li>a</li></ol></span>"), text: "> q\n\n1. a"},
		{name: "literal span right after bold", content: htmlMsg("x", `<b>x</b><img alt="*y*">`), text: "*x**y*\u2060"},
		{name: "literal italic right after italic", content: htmlMsg("x", "<i>a</i>_b_"), text: "_a__b_\u2060"},
		{name: "literal italic right after bold", content: htmlMsg("x", "<b>Note</b>_foo_"), text: "*Note*_foo_\u2060"},
		{name: "backtick before a code fence set apart by a space", content: htmlMsg("x", "0`<code>0 </code>"), text: "0` ```0 ```"},
		{name: "code fence after code set apart by a space", content: htmlMsg("x", "<code>a</code><code> b</code>"), text: "`a` ``` b```"},
		{name: "code fence after a word set apart by a space", content: htmlMsg("x", "see<code>a`b</code>"), text: "see ```a`b```"},
		{name: "code ending in a backtick keeps it inside the fence", content: htmlMsg("x", "<code>0`</code>"), text: "```0` ```"},
		{name: "code holding a fence written as text", content: htmlMsg("x", "<code>a```b</code>"), text: "a```b"},
		{name: "noncharacter in a pill's ID stays no marker", content: htmlMsg("x", `<a href="https://matrix.to/#/@%EF%B7%90x:y.org"></a>`), text: "@\uFFFDx:y.org"},
		{name: "literal underscores ending an italic", content: htmlMsg("x", "<em>snake_ x_</em>"), text: "_snake_\u2060 x_\u2060_"},
		{name: "list then quote keep a blank line", content: htmlMsg("x", "<ol><li>a</li><li>b</li></ol><blockquote>q</blockquote>"), text: "1. a\n2. b\n\n> q"},
		{name: "quote then code keep a blank line", content: htmlMsg("x", "<blockquote>q</blockquote><pre><code>c</code></pre>"), text: "> q\n\n```c```"},
		// Blocks in a list before its first item stand as outside it: a list, quote or code block
		// there is set apart from the next one and from the items by a blank line, as WhatsApp's
		// text of them is read back as separate blocks.
		{name: "lists before a list's first item keep a blank line", content: htmlMsg("x", "0<ul><ul><li>1</ul><ol ><li>xl"), text: "0\n- 1\n\n1. xl"},
		{name: "quote before a list's first item keeps a blank line", content: htmlMsg("x", "<ul><blockquote>q</blockquote><li>b</li></ul>"), text: "> q\n\n- b"},
		{name: "text before a list's first item keeps none", content: htmlMsg("x", "<ul><ol><li>1</li></ol><p>x</p><li>b</li></ul>"), text: "1. 1\nx\n- b"},
		{name: "negative list start", content: htmlMsg("x", `<ol start="-3"><li>a</li><li>b</li></ol>`), text: "-3. a\n-2. b"},
		{name: "zero list start", content: htmlMsg("x", `<ol start="0"><li>a</li></ol>`), text: "0. a"},
		{name: "table cells apart", content: htmlMsg("x", "<table><tr><th>name</th><th>age</th></tr><tr><td>Ann</td><td><b>7</b></td></tr></table>"), text: "name | age\nAnn | *7*"},
		{name: "nested list", content: htmlMsg("x", "<ul><li>one<ul><li>two</li></ul></li><li>three</li></ul>"), text: "- one\n  - two\n- three"},
		// Lists written inside the list rather than inside an item, as some editors nest them, and
		// other content between items: a browser shows them under the item before, so does WhatsApp.
		{name: "list nested outside its item", content: htmlMsg("x", "<ul><li>one</li><ul><li>two</li></ul><li>three</li></ul>"), text: "- one\n  - two\n- three"},
		{name: "ordered list nested outside its item", content: htmlMsg("x", "<ol><li>one</li><ol><li>two</li><li>more</li></ol></ol>"), text: "1. one\n   1. two\n   2. more"},
		{name: "list inside a link inside a list", content: htmlMsg("x", "<ul><li>0</li><a><ol><li>x</li></ol></a></ul>"), text: "- 0\n  1. x"},
		{name: "paragraph between items", content: htmlMsg("x", "<ul><li>a</li><p>more on a</p><li>b</li></ul>"), text: "- a\n  more on a\n- b"},
		{name: "list inside a link after text", content: htmlMsg("x", "see<a href=\"https://e.org\"><ol><li>one</li></ol></a>"), text: "see\n1. one (https://e.org)"},
		{name: "no empty line inside an item", content: htmlMsg("x", "<ul><li><a><ul><li>a</li></ul><p>b</p></a></li></ul>"), text: "- - a\n  b"},
		{name: "content before the first item", content: htmlMsg("x", "<ul><p>intro</p><li>a</li></ul>"), text: "intro\n- a"},
		{
			name:    "plain reply fallback",
			content: reply(plain("> <@bob:example.org> original\n> second line\n\nmy answer")),
			text:    "my answer",
		},
		{name: "quote that is not a reply", content: plain("> <@bob:example.org> said\n\nhm"), text: "> <@bob:example.org> said\n\nhm"},
		{name: "strong", content: htmlMsg("x", "<strong>bold</strong>"), text: "*bold*"},
		{name: "b", content: htmlMsg("x", "<b>bold</b>"), text: "*bold*"},
		{name: "em and i", content: htmlMsg("x", "<em>a</em> <i>b</i>"), text: "_a_ _b_"},
		{name: "del s strike", content: htmlMsg("x", "<del>a</del> <s>b</s> <strike>c</strike>"), text: "~a~ ~b~ ~c~"},
		{name: "underline has no marker", content: htmlMsg("x", "<u>under</u>"), text: "under"},
		{name: "inline code", content: htmlMsg("x", "run <code>ls -la</code>"), text: "run `ls -la`"},
		{name: "inline code keeps markers", content: htmlMsg("x", "<code>*a* &lt;b&gt;</code>"), text: "`*a* <b>`"},
		{name: "inline code with backtick", content: htmlMsg("x", "<code>a`b</code>"), text: "```a`b```"},
		{name: "code block", content: htmlMsg("x", "<pre><code>line 1\n  *line* 2\n</code></pre>"), text: "```line 1\n  *line* 2```"},
		{name: "code block with language", content: htmlMsg("x", `<pre><code class="language-go">x := 1</code></pre>`), text: "```x := 1```"},
		{name: "code block in text", content: htmlMsg("x", "<p>see</p><pre><code>a\nb\n</code></pre><p>ok</p>"), text: "see\n\n```a\nb```\n\nok"},
		{name: "nested styles", content: htmlMsg("x", "<strong><em>both</em></strong>"), text: "*_both_*"},
		{name: "same style nested", content: htmlMsg("x", "<strong>a <b>b</b> c</strong>"), text: "*a b c*"},
		{name: "whitespace moves outside markers", content: htmlMsg("x", "a<strong> bold </strong>b"), text: "a *bold* b"},
		{name: "empty style", content: htmlMsg("fallback", "<strong> </strong>"), text: "fallback"},
		{name: "style across line break", content: htmlMsg("x", "<em>one<br>two</em>"), text: "_one_\n_two_"},
		{name: "literal markers in html", content: htmlMsg("x", "snake_case 2*3*4 <b>ok</b>"), text: "snake_case 2*3*4 *ok*"},
		{name: "entities", content: htmlMsg("x", "a &lt;b&gt; &amp; &quot;c&quot; &#128512;"), text: `a <b> & "c" 😀`},
		{name: "spaces kept", content: htmlMsg("x", "a  <b>b</b>"), text: "a  *b*"},
		{name: "paragraphs", content: htmlMsg("x", "<p>one</p>\n<p>two</p>\n"), text: "one\n\ntwo"},
		{name: "line breaks", content: htmlMsg("x", "one<br>two<br />\nthree"), text: "one\ntwo\nthree"},
		{name: "heading", content: htmlMsg("x", "<h1>Title</h1><p>text</p>"), text: "*Title*\n\ntext"},
		{name: "blockquote", content: htmlMsg("x", "<blockquote>quoted</blockquote>reply"), text: "> quoted\nreply"},
		{
			name:    "multi-line blockquote",
			content: htmlMsg("x", "<blockquote>\n<p>one<br>two</p>\n<p>three</p>\n</blockquote>\n<p>reply</p>\n"),
			text:    "> one\n> two\n>\n> three\n\nreply",
		},
		{name: "nested blockquote", content: htmlMsg("x", "<blockquote><blockquote>in</blockquote>out</blockquote>"), text: "> > in\n> out"},
		{name: "unordered list", content: htmlMsg("x", "<ul>\n<li>a</li>\n<li><strong>b</strong></li>\n</ul>\n"), text: "- a\n- *b*"},
		{name: "ordered list", content: htmlMsg("x", `<ol start="3"><li>c</li><li>d</li></ol>`), text: "3. c\n4. d"},
		{name: "list after text", content: htmlMsg("x", "<p>todo:</p><ul><li>a</li></ul>thanks"), text: "todo:\n\n- a\nthanks"},
		{name: "paragraph after list quote and code", content: htmlMsg("x", "<ul><li>a</li></ul><p>b</p><blockquote>q</blockquote><p>c</p><pre><code>x</code></pre><p>d</p>"),
			text: "- a\n\nb\n\n> q\n\nc\n\n```x```\n\nd"},
		{name: "nested list", content: htmlMsg("x", "<ul><li>one<ul><li>two</li></ul></li><li>three</li></ul>"), text: "- one\n  - two\n- three"},
		{name: "nested ordered list keeps numbering", content: htmlMsg("x", "<ol><li>one<ol><li>sub a</li><li>sub b</li></ol></li><li>two</li><li>three</li></ol>"),
			text: "1. one\n   1. sub a\n   2. sub b\n2. two\n3. three"},
		{name: "three levels", content: htmlMsg("x", "<ul><li>a<ol><li>b<ul><li>c</li></ul></li></ol></li></ul>"), text: "- a\n  1. b\n     - c"},
		{name: "loose list item paragraphs", content: htmlMsg("x", "<ul>\n<li>\n<p>one</p>\n<p>more</p>\n</li>\n<li>\n<p>two</p>\n</li>\n</ul>\n<p>after</p>"),
			text: "- one\n  more\n- two\n\nafter"},
		{name: "link", content: htmlMsg("x", `<a href="https://example.com/page">the page</a>`), text: "the page (https://example.com/page)"},
		{name: "link text is url", content: htmlMsg("x", `<a href="https://example.com">https://example.com</a>`), text: "https://example.com"},
		{name: "link text is url without scheme", content: htmlMsg("x", `<a href="https://example.com">example.com</a>`), text: "example.com"},
		{name: "mailto", content: htmlMsg("x", `<a href="mailto:a@example.com">a@example.com</a>`), text: "a@example.com"},
		{name: "bold link", content: htmlMsg("x", `<b><a href="https://e.com/x">e</a></b>`), text: "*e (https://e.com/x)*"},
		{name: "emoticon image", content: htmlMsg("x", `hi <img data-mx-emoticon src="mxc://e/x" alt=":party:">`), text: "hi :party:"},
		{name: "script and style dropped", content: htmlMsg("x", `<script>alert(1)</script><style>b{}</style>hi<svg onload="alert(2)"><script>x()</script></svg>`), text: "hi"},
		{name: "handlers dropped", content: htmlMsg("x", `<p onclick="evil()">hi</p><img src=x onerror="alert(1)">`), text: "hi"},
		{name: "embedded frames dropped", content: htmlMsg("x", `<iframe src="https://e.com"><b>f</b></iframe><object data="x">o</object><embed src="x">hi`), text: "hi"},
		{name: "javascript link keeps text only", content: htmlMsg("x", `<a href=" JaVaScRiPt:alert(1)">click</a>`), text: "click"},
		{name: "data and vbscript links keep text only", content: htmlMsg("x", `<a href="data:text/html,&lt;script&gt;">d</a> <a href="vbscript:x">v</a>`), text: "d v"},
		{name: "tel link", content: htmlMsg("x", `<a href="tel:+4915112345678">call</a>`), text: "call (tel:+4915112345678)"},
		{
			name:     "pill to ghost",
			content:  htmlMsg("Bob: hi", pill(bob)+": hi"),
			text:     "@4915112345678: hi",
			mentions: []types.JID{bob.jid},
		},
		{
			name:     "pill to lid ghost",
			content:  htmlMsg("x", "hey "+pill(carol)),
			text:     "hey @123456789012345",
			mentions: []types.JID{carol.jid},
		},
		{
			name:     "pill to the user themself",
			content:  htmlMsg("x", "me: "+pill(alice)),
			text:     "me: @4900000000001",
			mentions: []types.JID{alice.jid},
		},
		{
			name:     "matrix uri pill",
			content:  htmlMsg("x", `<a href="matrix:u/whatsapp_4915112345678:example.org">Bob</a>`),
			text:     "@4915112345678",
			mentions: []types.JID{bob.jid},
		},
		{name: "pill to non-whatsapp user", content: htmlMsg("x", `<a href="https://matrix.to/#/@eve:other.org">Eve</a> hi`), text: "Eve hi"},
		{
			name:     "repeated pills in bold",
			content:  htmlMsg("x", "<b>"+pill(bob)+"</b> "+pill(carol)+" "+pill(bob)),
			text:     "*@4915112345678* @123456789012345 @4915112345678",
			mentions: []types.JID{bob.jid, carol.jid},
		},
		{
			name:    "room link",
			content: htmlMsg("x", `<a href="https://matrix.to/#/#room:example.org">the room</a>`),
			text:    "the room (https://matrix.to/#/#room:example.org)",
		},
		{
			name:    "html reply fallback",
			content: reply(htmlMsg("> <@bob:example.org> hi\n\n*answer*", `<mx-reply><blockquote><a href="https://matrix.to/#/$x">In reply to</a> <a href="https://matrix.to/#/@bob:example.org">Bob</a><br>hi</blockquote></mx-reply><b>answer</b>`)),
			text:    "*answer*",
		},
		{name: "unknown tags keep text", content: htmlMsg("x", "<span data-mx-spoiler>secret</span> <font color=red>red</font>"), text: "secret red"},
		{name: "script dropped", content: htmlMsg("x", "ok<script>alert(1)</script>"), text: "ok"},
		{name: "unclosed tags", content: htmlMsg("x", "<b>bold <i>both"), text: "*bold _both_*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var before event.MessageEventContent
			if tt.content != nil {
				before = *tt.content
			}
			text, mentions := TextToWhatsApp(context.Background(), tt.content, &testResolver{})
			if text != tt.text {
				t.Errorf("text =\n  %q\nwant\n  %q", text, tt.text)
			}
			if !slices.Equal(mentions, tt.mentions) {
				t.Errorf("mentions = %v, want %v", mentions, tt.mentions)
			}
			if tt.content != nil && (tt.content.Body != before.Body || tt.content.FormattedBody != before.FormattedBody) {
				t.Error("the content was modified")
			}
		})
	}
}

func TestTextToWhatsAppNilResolver(t *testing.T) {
	t.Parallel()
	text, mentions := TextToWhatsApp(context.Background(), htmlMsg("x", "hi "+pill(bob)), nil)
	if text != "hi Bob" || mentions != nil {
		t.Errorf("got %q %v, want the display name and no mentions", text, mentions)
	}
}

func TestTextToWhatsAppResolverFunc(t *testing.T) {
	t.Parallel()
	var asked []id.UserID
	resolve := UserResolverFunc(func(_ context.Context, userID id.UserID) (types.JID, bool) {
		asked = append(asked, userID)
		return types.NewJID("42", types.DefaultUserServer), true
	})
	text, mentions := TextToWhatsApp(context.Background(), htmlMsg("x", pill(bob)), resolve)
	if text != "@42" || len(mentions) != 1 || mentions[0].User != "42" {
		t.Errorf("got %q %v, want @42 mentioned", text, mentions)
	}
	if !slices.Equal(asked, []id.UserID{bob.userID}) {
		t.Errorf("resolver asked about %v, want %v", asked, bob.userID)
	}
}
