package msgconv

import (
	"context"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.mau.fi/whatsmeow/types"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TextToWhatsApp converts the text of Matrix message content into WhatsApp
// markup and the list of mentioned WhatsApp users (for ContextInfo.MentionedJID).
//
// The HTML formatted_body is used when present, otherwise the body. Literal
// text (the body, or the text of the HTML) keeps its markers as typed: a
// marker WhatsApp would read as formatting gets a word joiner in front (see
// escapeMarkers), since WhatsApp has no escape syntax. Reply fallbacks are removed
// (<mx-reply> always; "> <@user> ..." body lines when the content is a reply).
// Pills to users that resolve (which may be nil) maps to WhatsApp become
// "@digits" and are listed in mentions; other pills keep their display text.
// The message type is not looked at: the caller handles m.emote and others.
// For an edit, pass the m.new_content.
func TextToWhatsApp(ctx context.Context, content *event.MessageEventContent, resolve UserResolver) (text string, mentions []types.JID) {
	if content == nil {
		return "", nil
	}
	if content.Format == event.FormatHTML && content.FormattedBody != "" {
		w := &waWriter{ctx: ctx, resolve: resolve}
		text = w.convert(content.FormattedBody)
		if strings.TrimSpace(text) != "" {
			return text, w.mentions
		}
	}
	text = content.Body
	if content.RelatesTo.GetReplyTo() != "" {
		text = event.TrimReplyFallbackText(text)
	}
	return escapeMarkers(text), nil
}

// waWriter walks a Matrix HTML tree and writes WhatsApp markup.
type waWriter struct {
	ctx      context.Context
	resolve  UserResolver
	mentions mentionList
}

// style is the set of WhatsApp styles already open around a node, so that
// nested tags of the same kind do not double the markers.
type style struct{ bold, italic, strike bool }

// chunk is the text of one child node: inline text flows on, block text sits
// on its own lines, and consecutive paragraphs are set apart by an empty line.
type chunk struct {
	text  string
	block bool
	para  bool // a paragraph or heading
	// section is a list, quote or code block: set apart from a neighbouring paragraph by an empty
	// line, like paragraphs from each other.
	section bool
	br      bool // a line break, never dropped as mere whitespace
	code    bool // inline code
}

func (w *waWriter) convert(formatted string) string {
	root := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(formatted), root)
	if err != nil {
		return ""
	}
	for _, n := range nodes {
		dropPlaceholders(n)
	}
	chunks := make([]chunk, 0, len(nodes))
	for _, n := range nodes {
		chunks = append(chunks, w.node(n, style{}))
	}
	return strings.TrimSpace(settleMarkers(join(chunks)))
}

func (w *waWriter) children(n *html.Node, st style) string {
	var chunks []chunk
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		chunks = append(chunks, w.node(c, st))
	}
	return join(chunks)
}

// join concatenates chunks, putting blocks on their own lines and an empty line between two
// neighbouring paragraphs (or headings), lists, quotes or code blocks, as Matrix clients show them
// apart.
func join(chunks []chunk) string {
	return joinChunks(chunks, false)
}

// joinChunks is join; tight leaves out the empty lines (inside a list item).
func joinChunks(chunks []chunk, tight bool) string {
	var out []byte
	var prev *chunk
	for i := range chunks {
		c := &chunks[i]
		if c.text == "" {
			continue
		}
		if prev != nil && (c.block || prev.block) {
			if !c.block && !c.br && strings.TrimSpace(c.text) == "" {
				continue
			}
			for len(out) > 0 && (out[len(out)-1] == ' ' || out[len(out)-1] == '\t') {
				out = out[:len(out)-1]
			}
			out = append(out, '\n')
			if !tight && (c.para || c.section) && (prev.para || prev.section) {
				out = append(out, '\n')
			}
			if !c.block {
				c.text = strings.TrimLeft(c.text, " \t")
			}
		}
		if c.code && len(out) > 0 {
			// Code opens only at a word's start: right after a letter or digit it would show
			// as typed, and a backtick right before ``` would run into it ("````x```"). No
			// joiner can keep them apart (one in front of the code stops it from opening
			// too): a space does. (A backtick before `x` is kept apart by the final pass.)
			last, _ := utf8.DecodeLastRune(out)
			tick := last == '`' || placeholderMarker(last) == '`'
			if isWordRune(last) || tick && strings.HasPrefix(c.text, fence) {
				out = append(out, ' ')
			}
		}
		out = append(out, c.text...)
		prev = c
	}
	return string(out)
}

func (w *waWriter) node(n *html.Node, st style) chunk {
	switch n.Type {
	case html.TextNode:
		return chunk{text: markLiteral(cleanText(n.Data))}
	case html.ElementNode:
		return w.element(n, st)
	case html.DocumentNode:
		return chunk{text: w.children(n, st)}
	}
	return chunk{}
}

func (w *waWriter) element(n *html.Node, st style) chunk {
	if droppedTags[n.Data] {
		return chunk{}
	}
	switch n.Data {
	case "br":
		return chunk{text: "\n", br: true}
	case "p":
		return chunk{text: strings.TrimSpace(w.children(n, st)), block: true, para: true}
	case "h1", "h2", "h3", "h4", "h5", "h6":
		return chunk{text: w.styled(n, st, '*'), block: true, para: true}
	case "tr":
		return chunk{text: w.tableRow(n, st), block: true}
	case "div", "li", "table", "thead", "tbody", "tfoot", "section", "article",
		"header", "footer", "details", "summary", "figure", "figcaption", "dl", "dt", "dd":
		return chunk{text: strings.TrimSpace(w.children(n, st)), block: true}
	case "strong", "b":
		return wrapping(n, w.styled(n, st, '*'))
	case "em", "i":
		return wrapping(n, w.styled(n, st, '_'))
	case "del", "s", "strike":
		return wrapping(n, w.styled(n, st, '~'))
	case "code", "tt", "samp", "kbd":
		code := rawText(n)
		if strings.Contains(code, fence) {
			// WhatsApp code cannot hold ```: the text is written as typed instead.
			return chunk{text: markLiteral(cleanText(code))}
		}
		return chunk{text: inlineCode(code), code: true}
	case "pre":
		return chunk{text: codeBlock(rawText(n)), block: true, section: true}
	case "blockquote":
		return chunk{text: quote(strings.TrimSpace(w.children(n, st))), block: true, section: true}
	case "ul", "ol":
		return chunk{text: w.list(n, st), block: true, section: true}
	case "a":
		return wrapping(n, w.link(n, st))
	case "img":
		return chunk{text: markLiteral(attr(n, "alt"))}
	case "hr":
		return chunk{text: "---", block: true}
	}
	return wrapping(n, w.children(n, st))
}

// droppedTags are the elements whose content never reaches WhatsApp (a reply fallback, scripts,
// embedded documents).
var droppedTags = map[string]bool{
	"mx-reply": true, "script": true, "style": true, "head": true, "title": true, "template": true,
	"iframe": true, "noembed": true, "noframes": true, "object": true, "embed": true,
}

// blockTags are the elements element writes as blocks, on lines of their own.
var blockTags = map[string]bool{
	"p": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "tr": true,
	"div": true, "li": true, "table": true, "thead": true, "tbody": true, "tfoot": true, "section": true,
	"article": true, "header": true, "footer": true, "details": true, "summary": true, "figure": true,
	"figcaption": true, "dl": true, "dt": true, "dd": true, "pre": true, "blockquote": true, "ul": true,
	"ol": true, "hr": true,
}

// wrapping returns the chunk of an inline element (a link, a span, bold text) whose text is text.
// An element that holds a block, such as "<a><ol><li>x</li></ol></a>", stands on lines of its own
// like the block, so that the list does not run into the text before it ("0<a><ol>..." is not
// "01. x"), and is set apart from its neighbours as the blocks in it are (an empty line between a
// quote and a list wrapped in a link, as between the quote and the list).
func wrapping(n *html.Node, text string) chunk {
	var c chunk
	c.block, c.para, c.section = heldBlocks(n)
	c.text = text
	if c.block {
		// On lines of its own, the spaces at its ends would only indent or trail.
		c.text = strings.TrimSpace(text)
	}
	return c
}

// heldBlocks reports whether n holds a block element (at any depth, through inline elements) and
// whether any of those is a paragraph or heading, or a list, quote or code block.
func heldBlocks(n *html.Node) (holds, para, section bool) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode || droppedTags[c.Data] {
			continue
		}
		if blockTags[c.Data] {
			holds = true
			switch c.Data {
			case "p", "h1", "h2", "h3", "h4", "h5", "h6":
				para = true
			case "ul", "ol", "pre", "blockquote":
				section = true
			}
			continue
		}
		h, p, s := heldBlocks(c)
		holds, para, section = holds || h, para || p, section || s
	}
	return holds, para, section
}

// styled wraps the node's text in a WhatsApp marker, line by line (WhatsApp
// markers do not span lines), keeping surrounding whitespace outside.
func (w *waWriter) styled(n *html.Node, st style, marker byte) string {
	open := false
	switch marker {
	case '*':
		open, st.bold = st.bold, true
	case '_':
		open, st.italic = st.italic, true
	case '~':
		open, st.strike = st.strike, true
	}
	text := w.children(n, st)
	if open {
		return text
	}
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		core := strings.TrimSpace(line)
		if core == "" {
			continue
		}
		at := strings.Index(line, core)
		lines[i] = line[:at] + string(marker) + core + string(marker) + line[at+len(core):]
	}
	return strings.Join(lines, "\n")
}

// list writes a list as WhatsApp's "- item" or "1. item" lines, nested lists indented under their
// item. Numbers start at the list's start attribute, negative ones included (WhatsApp shows those
// as typed text rather than as a list).
//
// An element in the list but outside any item (such as "<ul><li>a</li><ul><li>b</li></ul></ul>",
// the nesting some editors write, or a paragraph between items) belongs to the item before it, as
// a browser indents it there: it is written on the following lines, indented under that item's
// text, a list in it keeping its markers. Before the first item it stands on its own lines.
func (w *waWriter) list(n *html.Node, st style) string {
	ordered := n.Data == "ol"
	num := 1
	if start, err := strconv.Atoi(strings.TrimSpace(attr(n, "start"))); err == nil && ordered {
		num = start
	}
	var items []string
	prefixWidth := 0 // of the last item written; 0 before the first
	// afterSection: the last of items is a list, quote or code block before the first item. Such
	// blocks stand as they would outside the list (TextToMatrix reads them back so): an empty
	// line sets them apart from a list, quote or code block after them, the first item included.
	afterSection := false
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode {
			continue
		}
		if c.Data != "li" {
			strayChunk := w.node(c, st)
			stray := dropBlankLines(strings.TrimSpace(joinChunks([]chunk{strayChunk}, true)))
			switch {
			case stray == "":
			case prefixWidth == 0:
				if afterSection && strayChunk.section {
					items[len(items)-1] += "\n"
				}
				items = append(items, stray)
				afterSection = strayChunk.section
			default:
				last := len(items) - 1
				items[last] += "\n" + strings.Repeat(" ", prefixWidth) + indent(stray, prefixWidth)
			}
			continue
		}
		var chunks []chunk
		for cc := c.FirstChild; cc != nil; cc = cc.NextSibling {
			chunks = append(chunks, w.node(cc, st))
		}
		item := dropBlankLines(strings.TrimSpace(joinChunks(chunks, true)))
		prefix := "- "
		if ordered {
			prefix = strconv.Itoa(num) + ". "
			num++
		}
		if item == "" {
			continue // WhatsApp has no empty list item: "- " alone is text
		}
		if afterSection {
			items[len(items)-1] += "\n"
			afterSection = false
		}
		items = append(items, prefix+indent(item, len(prefix)))
		prefixWidth = len(prefix)
	}
	return strings.Join(items, "\n")
}

// dropBlankLines removes the empty (or whitespace-only) lines of a list item's text: on WhatsApp an
// empty line ends the list, so an item's paragraphs (such as a list and a paragraph inside a link)
// follow each other on consecutive lines.
func dropBlankLines(text string) string {
	if !strings.Contains(text, "\n") {
		return text
	}
	lines := strings.Split(text, "\n")
	kept := lines[:0]
	for _, line := range lines {
		if strings.TrimSpace(line) != "" {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

// tableRow writes a table row on one line, its cells (th or td) set apart by " | ", so cells do
// not run together; a cell's line breaks become spaces.
func (w *waWriter) tableRow(n *html.Node, st style) string {
	var cells []string
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode {
			continue
		}
		cell := strings.Join(strings.Fields(strings.ReplaceAll(w.children(c, st), "\n", " ")), " ")
		cells = append(cells, cell)
	}
	return strings.Join(cells, " | ")
}

// indent shifts every line of text but the first right by n spaces, so that the lines of a list
// item (a nested list, a second paragraph) sit under its text rather than at the list's level.
func indent(text string, n int) string {
	if !strings.Contains(text, "\n") {
		return text
	}
	pad := "\n" + strings.Repeat(" ", n)
	return strings.ReplaceAll(text, "\n", pad)
}

// link writes a pill as a mention or as its display text, and any other
// link as "text (url)", or just the URL when the text is the URL. A link to
// anything but a web page, a mail address or a phone number (javascript:,
// data:, ...) keeps its text only: its target never reaches WhatsApp.
func (w *waWriter) link(n *html.Node, st style) string {
	text := w.children(n, st)
	href := attr(n, "href")
	if uri, err := id.ParseMatrixURIOrMatrixToURL(href); err == nil && uri != nil && uri.Sigil1 == '@' {
		userID := id.UserID(uri.PrimaryIdentifier())
		if w.resolve != nil {
			if jid, ok := w.resolve.ResolveMatrixUser(w.ctx, userID); ok && isDigits(jid.User) {
				w.mentions.add(jid)
				return "@" + jid.User
			}
		}
		if strings.TrimSpace(text) == "" {
			// The ID comes percent-decoded from the link and may not be valid UTF-8.
			return markLiteral(strings.ToValidUTF8(userID.String(), "\uFFFD"))
		}
		return text
	}
	plain := plainMarkers(text)
	switch {
	case href == "", !safeLinkScheme(href):
		return text
	case strings.TrimSpace(text) == "", plain == href:
		return href
	case plain == strings.TrimPrefix(href, "mailto:"),
		plain == strings.TrimPrefix(href, "https://"),
		plain == strings.TrimPrefix(href, "http://"):
		return text
	}
	return text + " (" + href + ")"
}

// safeLinkScheme reports whether href is an http(s), mailto: or tel: link (case-insensitive), the
// kinds a WhatsApp app opens as a link in a message.
func safeLinkScheme(href string) bool {
	scheme, _, ok := strings.Cut(href, ":")
	if !ok {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(scheme)) {
	case "http", "https", "mailto", "tel":
		return true
	}
	return false
}
