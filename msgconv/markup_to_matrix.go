package msgconv

import (
	"context"
	"html"
	"sort"
	"strconv"
	"strings"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TextToMatrix converts the text of a WhatsApp message into Matrix
// message content of type m.text.
//
// mentions is the message's ContextInfo.MentionedJID; "@digits" in text
// becomes a mention only when the digits are the user part of one of these
// JIDs and resolve (which may be nil) maps it to a Matrix user. The body is
// text with each resolved mention replaced by the user's display name; the
// WhatsApp markers stay in the body as the plain-text rendering. Format and
// FormattedBody are set only when the text has formatting or a resolved
// mention. Mentions (m.mentions) is always set, listing the mentioned users,
// so that receiving clients do not fall back to guessing mentions from the
// body.
func TextToMatrix(ctx context.Context, text string, mentions []types.JID, resolve MentionResolver) *event.MessageEventContent {
	p := &parser{src: text, mentions: mentionIndex(mentions)}
	blocks := p.parse()
	r := &htmlRenderer{src: text, names: newMentionCache(ctx, resolve), mentions: &event.Mentions{}}
	r.blocks(blocks)
	content := &event.MessageEventContent{
		MsgType:  event.MsgText,
		Body:     r.body(),
		Mentions: r.mentions,
	}
	if r.formatted {
		content.Format = event.FormatHTML
		content.FormattedBody = r.out.String()
	}
	return content
}

// htmlRenderer writes the parsed tree as Matrix HTML and records the places
// where the plain body differs from the source text.
type htmlRenderer struct {
	src       string
	names     *mentionCache
	out       strings.Builder
	formatted bool
	mentions  *event.Mentions
	// replaced lists the mention spans of src and their display names.
	replaced []replacement
}

type replacement struct {
	start, end int
	with       string
}

func (r *htmlRenderer) blocks(blocks []block) {
	for _, b := range blocks {
		switch b.kind {
		case blPara:
			for i, line := range b.lines {
				if i > 0 {
					r.out.WriteString("<br>")
				}
				r.inlines(line)
			}
		case blPre:
			r.formatted = true
			r.out.WriteString("<pre><code>")
			r.out.WriteString(html.EscapeString(b.code))
			if strings.HasSuffix(b.code, "\n") && !strings.HasPrefix(b.code, "\n") {
				// The way back (codeBlock) drops one trailing newline, the one Matrix clients
				// add: a code block that ends in a newline of its own gets that one too.
				r.out.WriteString("\n")
			}
			r.out.WriteString("</code></pre>")
		case blQuote:
			r.formatted = true
			r.out.WriteString("<blockquote>")
			r.blocks(b.children)
			r.out.WriteString("</blockquote>")
		case blList:
			r.formatted = true
			tag := "ul"
			if b.ordered {
				tag = "ol"
			}
			r.out.WriteString("<" + tag)
			if b.ordered && b.first != 1 {
				r.out.WriteString(` start="` + strconv.Itoa(b.first) + `"`)
			}
			r.out.WriteString(">")
			for i, item := range b.lines {
				r.out.WriteString("<li>")
				r.inlines(item)
				for j, sub := range b.items[i] {
					if sub.kind == blPara && (j == 0 || b.items[i][j-1].kind == blPara) {
						// More text of the item, on its own line (after a nested list, quote or
						// code block it is on one anyway).
						r.out.WriteString("<br>")
					}
					r.blocks([]block{sub})
				}
				r.out.WriteString("</li>")
			}
			r.out.WriteString("</" + tag + ">")
		}
	}
}

var inlineTags = map[inlineKind]string{
	inBold:   "strong",
	inItalic: "em",
	inStrike: "del",
	inCode:   "code",
}

func (r *htmlRenderer) inlines(nodes []inline) {
	for _, n := range nodes {
		switch n.kind {
		case inText:
			r.out.WriteString(html.EscapeString(r.src[n.start:n.end]))
		case inCode:
			r.formatted = true
			r.out.WriteString("<code>")
			r.out.WriteString(html.EscapeString(r.src[n.start:n.end]))
			r.out.WriteString("</code>")
		case inMention:
			r.mention(n)
		default:
			r.formatted = true
			tag := inlineTags[n.kind]
			r.out.WriteString("<" + tag + ">")
			r.inlines(n.children)
			r.out.WriteString("</" + tag + ">")
		}
	}
}

func (r *htmlRenderer) mention(n inline) {
	rm := r.names.get(n.jid)
	if !rm.ok {
		r.out.WriteString(html.EscapeString(r.src[n.start:n.end]))
		return
	}
	r.formatted = true
	r.mentions.Add(rm.userID)
	r.replaced = append(r.replaced, replacement{n.start, n.end, rm.name})
	r.out.WriteString(`<a href="`)
	r.out.WriteString(html.EscapeString(pillURL(rm.userID)))
	r.out.WriteString(`">`)
	r.out.WriteString(html.EscapeString(rm.name))
	r.out.WriteString("</a>")
}

// pillURL is the matrix.to link Matrix clients render as a user pill.
func pillURL(userID id.UserID) string {
	return userID.URI().MatrixToURL()
}

// body is the source text with resolved mentions replaced by display names.
func (r *htmlRenderer) body() string {
	if len(r.replaced) == 0 {
		return r.src
	}
	sort.Slice(r.replaced, func(i, j int) bool { return r.replaced[i].start < r.replaced[j].start })
	var b strings.Builder
	pos := 0
	for _, rep := range r.replaced {
		b.WriteString(r.src[pos:rep.start])
		b.WriteString(rep.with)
		pos = rep.end
	}
	b.WriteString(r.src[pos:])
	return b.String()
}
