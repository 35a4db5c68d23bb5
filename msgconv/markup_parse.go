package msgconv

import (
	"strings"

	"go.mau.fi/whatsmeow/types"
)

// This file parses WhatsApp markup into a small tree. The parser works on
// byte offsets into the original text, so that the plain body can be built
// from the original text and each node knows where it came from.
//
// Block level (line based): ``` fenced code (may span lines), "> " quotes,
// "- "/"* " bullet lists, "1. " numbered lists (lines indented by two or more
// spaces under an item are its nested blocks, e.g. a nested list), and
// paragraphs of plain lines. Inline level (within one line): *bold*, _italic_, ~strike~, `code`,
// ```code```, @digits mentions; URLs are opaque.

type inlineKind uint8

const (
	inText inlineKind = iota
	inBold
	inItalic
	inStrike
	inCode
	inMention
)

// inline is one inline node. For text, code and mentions, src[start:end] is
// the literal content (for a mention the "@digits" as written); for styled
// nodes it is the content between the markers, parsed into children.
type inline struct {
	kind       inlineKind
	start, end int
	children   []inline
	jid        types.JID
	// mark is the length of a code span's markers: 1 for `code`, 3 for ```code```.
	mark int
}

type blockKind uint8

const (
	blPara blockKind = iota
	blPre
	blQuote
	blList
)

// block is one block-level node.
type block struct {
	kind     blockKind
	lines    [][]inline // paragraph lines, or list items
	code     string     // content of a fenced code block
	open     int        // offset of a code block's opening fence
	children []block    // quote content
	items    [][]block  // per list item, the blocks indented below it (nil for none)
	ordered  bool       // numbered list
	first    int        // number of the first item of a numbered list
}

// span is a byte range [start, end) of the source text.
type span struct{ start, end int }

type parser struct {
	src      string
	mentions map[string]types.JID
}

const fence = "```"

// parse splits the whole text into lines and parses them into blocks.
func (p *parser) parse() []block {
	var lines []span
	start := 0
	for i := 0; i < len(p.src); i++ {
		if p.src[i] == '\n' {
			lines = append(lines, span{start, i})
			start = i + 1
		}
	}
	lines = append(lines, span{start, len(p.src)})
	return p.parseBlocks(lines, 0)
}

// parseBlocks parses lines into blocks; depth counts the enclosing quotes.
func (p *parser) parseBlocks(lines []span, depth int) []block {
	lines = append([]span(nil), lines...) // the fence case rewrites entries
	var out []block
	var para []span
	flush := func() {
		if len(para) == 0 {
			return
		}
		b := block{kind: blPara}
		for _, ln := range para {
			b.lines = append(b.lines, p.parseLine(ln.start, ln.end))
		}
		out = append(out, b)
		para = nil
	}
	for i := 0; i < len(lines); {
		ln := lines[i]
		text := p.src[ln.start:ln.end]
		if open, endLine, close, ok := p.findFence(lines, i); ok {
			if open > ln.start {
				para = append(para, span{ln.start, open})
			}
			flush()
			var code strings.Builder
			if endLine == i {
				code.WriteString(p.src[open+len(fence) : close])
			} else {
				code.WriteString(p.src[open+len(fence) : ln.end])
				for _, mid := range lines[i+1 : endLine] {
					code.WriteByte('\n')
					code.WriteString(p.src[mid.start:mid.end])
				}
				code.WriteByte('\n')
				code.WriteString(p.src[lines[endLine].start:close])
			}
			out = append(out, block{kind: blPre, code: code.String(), open: open})
			rest := span{close + len(fence), lines[endLine].end}
			if rest.start < rest.end {
				lines[endLine] = rest
				i = endLine
			} else {
				i = endLine + 1
			}
			continue
		}
		// A quote starts with a "> text" line; a lone ">" only continues one (an empty line of a
		// quote), as on WhatsApp, where a ">" line by itself is text.
		if off, ok := quoteContent(text); ok && off == 2 && depth < maxNesting {
			flush()
			var inner []span
			for ; i < len(lines); i++ {
				off, ok := quoteContent(p.src[lines[i].start:lines[i].end])
				if !ok {
					break
				}
				inner = append(inner, span{lines[i].start + off, lines[i].end})
			}
			out = append(out, block{kind: blQuote, children: p.parseBlocks(inner, depth+1)})
			continue
		}
		if _, _, ok := listItem(text); ok {
			flush()
			_, first, _ := listItem(text)
			ordered := first >= 0
			b := block{kind: blList, ordered: ordered, first: first}
			for i < len(lines) {
				off, num, ok := listItem(p.src[lines[i].start:lines[i].end])
				if !ok || (num >= 0) != ordered {
					break
				}
				b.lines = append(b.lines, p.parseLine(lines[i].start+off, lines[i].end))
				i++
				// Indented lines below an item belong to it: a nested list, or more text.
				var inner []span
				for ; i < len(lines); i++ {
					cut, ok := itemContinuation(p.src[lines[i].start:lines[i].end], off)
					if !ok {
						break
					}
					inner = append(inner, span{lines[i].start + cut, lines[i].end})
				}
				var sub []block
				if len(inner) > 0 && depth < maxNesting {
					sub = p.parseBlocks(inner, depth+1)
				} else if len(inner) > 0 {
					sub = []block{{kind: blPara, lines: [][]inline{p.parseLine(inner[0].start, inner[len(inner)-1].end)}}}
				}
				b.items = append(b.items, sub)
			}
			out = append(out, b)
			continue
		}
		para = append(para, ln)
		i++
	}
	flush()
	return out
}

// quoteContent reports whether line is a quote line ("> text" or a lone ">")
// and the offset of its content.
func quoteContent(line string) (int, bool) {
	switch {
	case strings.HasPrefix(line, "> "):
		return 2, true
	case line == ">":
		return 1, true
	}
	return 0, false
}

// listItem reports whether line is a list item, the offset of its content
// and, for a numbered item, its number (-1 for a bullet). Numbers have at
// most three digits, so that a line starting with a year stays text.
func listItem(line string) (off, num int, ok bool) {
	if (strings.HasPrefix(line, "- ") || strings.HasPrefix(line, "* ")) && strings.TrimSpace(line[2:]) != "" {
		return 2, -1, true
	}
	n, digits := 0, 0
	for digits < len(line) && digits < 3 && line[digits] >= '0' && line[digits] <= '9' {
		n = n*10 + int(line[digits]-'0')
		digits++
	}
	if digits > 0 && strings.HasPrefix(line[digits:], ". ") && strings.TrimSpace(line[digits+2:]) != "" {
		return digits + 2, n, true
	}
	return 0, 0, false
}

// itemContinuation reports whether line continues the list item above it, whose text starts at
// column off: it is indented by at least two spaces and is not blank. cut is how much indentation
// to strip (at most off), leaving the item's own text, e.g. "  - two" under "- one" is "- two".
func itemContinuation(line string, off int) (cut int, ok bool) {
	n := 0
	for n < len(line) && line[n] == ' ' {
		n++
	}
	if n < 2 || n == len(line) || strings.TrimSpace(line) == "" {
		return 0, false
	}
	return min(n, off), true
}

// findFence looks in line i for a ``` opener that starts a code block: one
// whose closing ``` is on a later line, or one that, with its closer, spans
// the whole line. Openers closed on the same line in the middle of text are
// inline code and are skipped (parseInline handles them).
func (p *parser) findFence(lines []span, i int) (open, endLine, close int, ok bool) {
	ln := lines[i]
	for pos := ln.start; pos < ln.end; {
		k := strings.Index(p.src[pos:ln.end], fence)
		if k < 0 {
			return 0, 0, 0, false
		}
		o := pos + k
		if !p.fenceCanOpen(o, ln.start) {
			pos = o + 1
			continue
		}
		if c := strings.Index(p.src[o+len(fence):ln.end], fence); c >= 0 {
			cl := o + len(fence) + c
			if o == ln.start && cl+len(fence) == ln.end && strings.TrimSpace(p.src[o+len(fence):cl]) != "" {
				return o, i, cl, true
			}
			pos = cl + len(fence)
			continue
		}
		for j := i + 1; j < len(lines); j++ {
			if c := strings.Index(p.src[lines[j].start:lines[j].end], fence); c >= 0 {
				cl := lines[j].start + c
				if strings.TrimSpace(p.src[o+len(fence):cl]) == "" {
					return 0, 0, 0, false
				}
				return o, j, cl, true
			}
		}
		return 0, 0, 0, false
	}
	return 0, 0, 0, false
}

// fenceCanOpen reports whether a ``` opener may stand at o: it must not follow a letter or digit.
func (p *parser) fenceCanOpen(o, lo int) bool {
	return o == lo || !isWordRune(lastRune(p.src[lo:o]))
}
