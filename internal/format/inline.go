package format

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"go.mau.fi/whatsmeow/types"
)

// parseInline parses src[start:end], a part of one line. lo is where that
// line's content starts: characters before lo do not count as neighbours of
// a marker.
//
// WhatsApp's rules: an opening marker must not follow a letter or digit and
// must be followed by a non-space; a closing marker must follow a non-space
// and must not be followed by a letter or digit; the first valid closer wins.
// Code content and URLs are literal.
func (p *parser) parseInline(start, end, lo int) []inline {
	var out []inline
	textStart := start
	// emit appends the text before a node whose source (markers included)
	// is src[from:to], then the node itself.
	emit := func(node inline, from, to int) {
		if from > textStart {
			out = append(out, inline{kind: inText, start: textStart, end: from})
		}
		out = append(out, node)
		textStart = to
	}
	for i := start; i < end; {
		c := p.src[i]
		switch c {
		case '`':
			if n, inner := p.codeSpan(i, end, lo); n > 0 {
				emit(inline{kind: inCode, start: inner.start, end: inner.end}, i, i+n)
				i += n
				continue
			} else if strings.HasPrefix(p.src[i:end], fence) {
				i += len(fence)
				continue
			}
		case '*', '_', '~':
			if p.canOpen(i, end, lo) {
				if cl := p.findCloser(i, end, lo, c); cl > 0 {
					node := inline{kind: markerKind(c), start: i + 1, end: cl}
					node.children = p.parseInline(i+1, cl, lo)
					emit(node, i, cl+1)
					i = cl + 1
					continue
				}
			}
		case '@':
			if n, jid, ok := p.mentionAt(i, end, lo); ok {
				emit(inline{kind: inMention, start: i, end: i + n, jid: jid}, i, i+n)
				i += n
				continue
			}
		default:
			if n := p.urlLen(i, end, lo); n > 0 {
				i += n
				continue
			}
		}
		i++
	}
	if end > textStart {
		out = append(out, inline{kind: inText, start: textStart, end: end})
	}
	return out
}

func markerKind(c byte) inlineKind {
	switch c {
	case '*':
		return inBold
	case '_':
		return inItalic
	default:
		return inStrike
	}
}

// canOpen reports whether the marker at i may open a span.
func (p *parser) canOpen(i, end, lo int) bool {
	if i+1 >= end {
		return false
	}
	next, _ := utf8.DecodeRuneInString(p.src[i+1 : end])
	if unicode.IsSpace(next) {
		return false
	}
	return i == lo || !isWordRune(lastRune(p.src[lo:i]))
}

// canClose reports whether the marker at k may close a span opened at open.
func (p *parser) canClose(k, open, end int) bool {
	if k <= open+1 {
		return false
	}
	if unicode.IsSpace(lastRune(p.src[open+1 : k])) {
		return false
	}
	if k+1 >= end {
		return true
	}
	next, _ := utf8.DecodeRuneInString(p.src[k+1 : end])
	return !isWordRune(next)
}

// findCloser finds the closer of the span opened by marker c at i, skipping
// code spans and URLs. It returns -1 when there is none.
func (p *parser) findCloser(i, end, lo int, c byte) int {
	for k := i + 1; k < end; {
		switch p.src[k] {
		case c:
			if p.canClose(k, i, end) {
				return k
			}
		case '`':
			if n, _ := p.codeSpan(k, end, lo); n > 0 {
				k += n
				continue
			}
		default:
			if n := p.urlLen(k, end, lo); n > 0 {
				k += n
				continue
			}
		}
		k++
	}
	return -1
}

// codeSpan recognises ```code``` or `code` starting at i. It returns the
// length of the whole span (0 if there is none) and its content.
func (p *parser) codeSpan(i, end, lo int) (int, span) {
	if strings.HasPrefix(p.src[i:end], fence) {
		if !p.fenceCanOpen(i, lo) {
			return 0, span{}
		}
		c := strings.Index(p.src[i+len(fence):end], fence)
		if c <= 0 {
			return 0, span{}
		}
		inner := span{i + len(fence), i + len(fence) + c}
		return c + 2*len(fence), inner
	}
	if !p.canOpen(i, end, lo) {
		return 0, span{}
	}
	for k := i + 2; k < end; k++ {
		if p.src[k] == '`' && p.canClose(k, i, end) {
			return k + 1 - i, span{i + 1, k}
		}
	}
	return 0, span{}
}

// mentionAt recognises "@digits" at i when the digits are those of a JID in
// the message's mention list.
func (p *parser) mentionAt(i, end, lo int) (int, types.JID, bool) {
	if len(p.mentions) == 0 || (i > lo && isWordRune(lastRune(p.src[lo:i]))) {
		return 0, types.JID{}, false
	}
	j := i + 1
	for j < end && p.src[j] >= '0' && p.src[j] <= '9' {
		j++
	}
	if j == i+1 {
		return 0, types.JID{}, false
	}
	if j < end {
		next, _ := utf8.DecodeRuneInString(p.src[j:end])
		if isWordRune(next) {
			return 0, types.JID{}, false
		}
	}
	jid, ok := p.mentions[p.src[i+1:j]]
	return j - i, jid, ok
}

var urlPrefixes = []string{"https://", "http://", "www."}

// urlLen returns the length of a URL starting at i, or 0. A URL starts at a
// word boundary and runs to the next whitespace, minus trailing punctuation.
func (p *parser) urlLen(i, end, lo int) int {
	c := p.src[i] | 0x20
	if c != 'h' && c != 'w' {
		return 0
	}
	if i > lo && isWordRune(lastRune(p.src[lo:i])) {
		return 0
	}
	rest := p.src[i:end]
	matched := false
	for _, prefix := range urlPrefixes {
		if len(rest) > len(prefix) && strings.EqualFold(rest[:len(prefix)], prefix) {
			matched = true
			break
		}
	}
	if !matched {
		return 0
	}
	n := strings.IndexFunc(rest, unicode.IsSpace)
	if n < 0 {
		n = len(rest)
	}
	url := strings.TrimRight(rest[:n], ".,;:!?'\"*_~`>")
	if strings.HasSuffix(url, ")") && !strings.Contains(url, "(") {
		url = strings.TrimRight(url, ")")
	}
	return len(url)
}

func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r))
}

func lastRune(s string) rune {
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}
