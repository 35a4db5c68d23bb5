package msgconv

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/types"
)

// roundTrip sends text from WhatsApp to Matrix and back.
func roundTrip(text string, mentions []types.JID) (string, []types.JID, string) {
	ctx := context.Background()
	content := TextToMatrix(ctx, text, mentions, &testResolver{})
	back, backMentions := TextToWhatsApp(ctx, content, &testResolver{})
	return back, backMentions, content.FormattedBody
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	mentions := []types.JID{bob.jid, carol.jid, alice.jid}
	texts := []string{
		"plain text, nothing else",
		"*bold* _italic_ ~strike~ `code`",
		"*bold with _italic_ inside* and ~*both*~",
		"snake_case_name 2*3*4 a~b~c",
		"*unclosed and _also",
		"a < b && \"c\" > 'd' &amp;",
		"🎉 *émoji* _日本語_ ~ünïcödé~",
		"line one\nline two\n\nafter an empty line",
		"> quoted *bold*\n> second line\n>\n> after empty quote line\nreply",
		"> > nested\n> outer",
		"> q\n\nreply after a blank line",
		"text\n\n> quote after a blank line",
		"- one\n- _two_\n- `three`",
		"1. first\n2. second",
		"7. seventh\n8. eighth",
		"intro\n- a\n- b\noutro",
		"> quote\n\n- list",
		"- one\n  - two\n- three",
		"1. one\n   1. two\n   2. _more_\n2. three",
		"- one\n  more about one\n- two",
		"see 10.0.0.1/_x_ and 192.168.1.1:8080/*y*",
		"```code *not bold*```",
		"```\nmulti\n  line *code*\n```",
		"```first\nsecond```",
		"look:\n```\nx := a*b\n```\ndone",
		"hi @4915112345678 and @123456789012345",
		"*@4900000000001* thanks",
		"`@4915112345678` is literal",
		"https://example.com/a_b_c *https://example.com/x_y*",
		"a  b   c with *spaces*",
	}
	for _, text := range texts {
		t.Run(text, func(t *testing.T) {
			t.Parallel()
			back, backMentions, formatted := roundTrip(text, mentions)
			if back != text {
				t.Errorf("round trip changed the text\n  in:   %q\n  html: %q\n  out:  %q", text, formatted, back)
			}
			want := mentionedIn(text, mentions)
			if !slices.Equal(backMentions, want) {
				t.Errorf("mentions = %v, want %v", backMentions, want)
			}
		})
	}
}

// TestRoundTripNormalises lists the cases where the markup comes back in
// WhatsApp's canonical form rather than byte for byte.
func TestRoundTripNormalises(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, out string }{
		{"* star bullets\n* become dashes", "- star bullets\n- become dashes"},
		{"run ```ls``` now", "run `ls` now"},
		{"> quote\n- list", "> quote\n\n- list"},
		{"1. one\n> quote", "1. one\n\n> quote"},
		{"1. one\n1. one again", "1. one\n2. one again"},
		{"  *indented*  ", "*indented*"},
	}
	for _, tt := range tests {
		back, _, formatted := roundTrip(tt.in, nil)
		if back != tt.out {
			t.Errorf("round trip of %q (html %q) = %q, want %q", tt.in, formatted, back, tt.out)
		}
	}
}

// TestRoundTripGenerated checks the round trip on random well-formed markup.
func TestRoundTripGenerated(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		g := &markupGen{rng: rng}
		text := g.message()
		back, backMentions, formatted := roundTrip(text, g.mentions)
		if back != text {
			t.Fatalf("round trip changed the text\n  in:   %q\n  html: %q\n  out:  %q", text, formatted, back)
		}
		if want := mentionedIn(text, g.mentions); !slices.Equal(backMentions, want) {
			t.Fatalf("mentions of %q = %v, want %v", text, backMentions, want)
		}
	}
}

// mentionedIn lists the known users whose "@digits" appear outside code in
// text, in order of first appearance.
func mentionedIn(text string, known []types.JID) []types.JID {
	type hit struct {
		at  int
		jid types.JID
	}
	var hits []hit
	for _, jid := range known {
		search := text
		offset := 0
		for {
			i := strings.Index(search, "@"+jid.User)
			if i < 0 {
				break
			}
			before := text[:offset+i]
			if strings.Count(before, "`")%2 == 0 {
				hits = append(hits, hit{offset + i, jid})
				break
			}
			offset += i + 1
			search = text[offset:]
		}
	}
	slices.SortFunc(hits, func(a, b hit) int { return a.at - b.at })
	var out []types.JID
	for _, h := range hits {
		out = append(out, h.jid)
	}
	return out
}

// markupGen writes random well-formed WhatsApp markup: every marker closed,
// at word boundaries, with no whitespace on its inner side.
type markupGen struct {
	rng      *rand.Rand
	mentions []types.JID
}

var genWords = []string{
	"hello", "world", "snake_case_name", "2*3*4", "🎉", "naïve", "a<b", "&amp;", "x.y",
	"https://example.com/a_b", "(paren)", "don't", "50%", "tl;dr", "日本語", "a~b", "e=mc²",
}

func (g *markupGen) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g *markupGen) message() string {
	kinds := []string{"para", "quote", "ul", "ol", "code"}
	n := 1 + g.rng.IntN(4)
	var blocks []string
	prev := ""
	for i := range n {
		kind := g.pick(kinds)
		if kind == "ol" && prev == "ol" {
			kind = "ul" // adjacent numbered lists merge into one, renumbered
		}
		if kind != "para" && prev != "" && prev != "para" && len(blocks) > 0 {
			// Matrix clients show two lists, quotes or code blocks apart, so WhatsApp gets them
			// with an empty line between (TestRoundTripNormalises).
			blocks[len(blocks)-1] += "\n"
		}
		prev = kind
		if kind == "para" {
			blocks = append(blocks, g.para(i > 0, i < n-1))
			continue
		}
		blocks = append(blocks, g.block(kind))
	}
	return strings.Join(blocks, "\n")
}

// para writes paragraph lines; it may start (end) with an empty line only
// when a block comes before (after) it.
func (g *markupGen) para(blockBefore, blockAfter bool) string {
	var lines []string
	if blockBefore && g.rng.IntN(4) == 0 {
		lines = append(lines, "")
	}
	for i := range 1 + g.rng.IntN(3) {
		if i > 0 && g.rng.IntN(4) == 0 {
			lines = append(lines, "")
		}
		lines = append(lines, g.inline(0, ""))
	}
	if blockAfter && g.rng.IntN(4) == 0 {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

func (g *markupGen) block(kind string) string {
	var lines []string
	switch kind {
	case "quote":
		inner := g.para(false, false)
		if g.rng.IntN(3) == 0 {
			inner += "\n" + g.block("ul")
		}
		for _, line := range strings.Split(inner, "\n") {
			if line == "" {
				lines = append(lines, ">")
			} else {
				lines = append(lines, "> "+line)
			}
		}
	case "ul", "ol":
		first := 1 + g.rng.IntN(5)
		for i := range 1 + g.rng.IntN(3) {
			prefix := "- "
			if kind == "ol" {
				prefix = strconv.Itoa(first+i) + ". "
			}
			lines = append(lines, prefix+g.inline(0, ""))
			if g.rng.IntN(4) == 0 {
				// A nested list, indented under the item's text as the bridge writes it.
				pad := strings.Repeat(" ", len(prefix))
				for j := range 1 + g.rng.IntN(2) {
					sub := "- "
					if g.rng.IntN(2) == 0 {
						sub = strconv.Itoa(j+1) + ". "
					}
					lines = append(lines, pad+sub+g.inline(0, ""))
				}
			}
		}
	case "code":
		var code []string
		for range 1 + g.rng.IntN(3) {
			code = append(code, g.pick(genWords)+" *"+g.pick(genWords)+"* @4915112345678")
		}
		switch g.rng.IntN(3) {
		case 0:
			return "```" + code[0] + "```"
		case 1:
			return "```\n" + strings.Join(code, "\n") + "\n```"
		default:
			return "```" + strings.Join(code, "\n") + "```"
		}
	}
	return strings.Join(lines, "\n")
}

// inline writes 1-4 space-separated items; open lists the styles already
// open around them, which are not opened again.
func (g *markupGen) inline(depth int, open string) string {
	var items []string
	for range 1 + g.rng.IntN(4) {
		switch r := g.rng.IntN(10); {
		case r < 5 || depth > 2:
			items = append(items, g.pick(genWords))
		case r == 5:
			u := g.pick([]string{"4915112345678", "123456789012345", "4900000000001"})
			for _, known := range knownUsers {
				if known.jid.User == u && !slices.Contains(g.mentions, known.jid) {
					g.mentions = append(g.mentions, known.jid)
				}
			}
			items = append(items, "@"+u)
		case r == 6:
			items = append(items, "`"+g.pick(genWords)+"`")
		default:
			marker := g.pick([]string{"*", "_", "~"})
			if strings.Contains(open, marker) {
				items = append(items, g.pick(genWords))
				continue
			}
			items = append(items, marker+g.inline(depth+1, open+marker)+marker)
		}
	}
	return strings.Join(items, " ")
}
