package msgconv

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// wordJoiner (U+2060 WORD JOINER) is the invisible character the bridge puts in front of a literal
// WhatsApp marker to keep it literal. WhatsApp has no escape character; a marker opens a span only
// at the start of a word (not after a letter, digit or joiner), so a joiner in front of it makes the
// apps show it as typed. Unlike U+200B ZERO WIDTH SPACE it never adds a line-break opportunity.
// A joiner after a marker likewise keeps it from closing a span.
const wordJoiner = '\u2060'

// maxEscapeRounds bounds how often the escaping re-parses the text; breaking one pair of markers
// can let another pair form, which is rare beyond two rounds.
const maxEscapeRounds = 8

// markerBytes are WhatsApp's style and code markers.
const markerBytes = "*_~`"

// literalBase is the first of four Unicode noncharacters (U+FDD0..U+FDD3, which never occur in a
// message: see dropPlaceholders) that stand for *, _, ~ and ` while the HTML writer builds its
// text: a marker typed in the text of the HTML is held as its placeholder, so that the final pass
// (settleMarkers) can tell it from the markers the writer put around bold, code and the like,
// including when the two meet across elements ("`<code>x</code>" is a literal backtick before code).
const literalBase = '\uFDD0'

// markLiteral returns text with each marker held as its placeholder; a placeholder already in it
// (one decoded from a link, which dropPlaceholders does not see) becomes U+FFFD.
func markLiteral(text string) string {
	if !strings.ContainsFunc(text, func(r rune) bool {
		return r < utf8.RuneSelf && strings.IndexByte(markerBytes, byte(r)) >= 0 || placeholderMarker(r) != 0
	}) {
		return text
	}
	return strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf {
			if k := strings.IndexByte(markerBytes, byte(r)); k >= 0 {
				return literalBase + rune(k)
			}
		}
		if placeholderMarker(r) != 0 {
			return utf8.RuneError
		}
		return r
	}, text)
}

// placeholderMarker returns the marker a placeholder stands for, or 0.
func placeholderMarker(r rune) byte {
	if r >= literalBase && r < literalBase+rune(len(markerBytes)) {
		return markerBytes[r-literalBase]
	}
	return 0
}

// plainMarkers returns text with placeholders turned back into markers, for comparing text the
// writer built with text from elsewhere (a link's address).
func plainMarkers(text string) string {
	s, _ := splitLiteral(text)
	return s
}

// dropPlaceholders replaces any placeholder rune in the text and attributes of the HTML tree with
// U+FFFD, so that only markLiteral makes them.
func dropPlaceholders(n *html.Node) {
	clean := func(s string) string {
		if !strings.ContainsFunc(s, func(r rune) bool { return placeholderMarker(r) != 0 }) {
			return s
		}
		return strings.Map(func(r rune) rune {
			if placeholderMarker(r) != 0 {
				return utf8.RuneError
			}
			return r
		}, s)
	}
	n.Data = clean(n.Data)
	for i := range n.Attr {
		n.Attr[i].Val = clean(n.Attr[i].Val)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		dropPlaceholders(c)
	}
}

// splitLiteral turns the placeholders of text into markers and reports, per byte of the result,
// whether it is a literal marker.
func splitLiteral(text string) (string, []bool) {
	var b strings.Builder
	var lit []bool
	for i, r := range text {
		if m := placeholderMarker(r); m != 0 {
			if lit == nil {
				lit = make([]bool, i, len(text))
				b.WriteString(text[:i])
			}
			b.WriteByte(m)
			lit = append(lit, true)
			continue
		}
		if lit != nil {
			b.WriteRune(r)
			lit = append(lit, make([]bool, utf8.RuneLen(r))...)
		}
	}
	if lit == nil {
		return text, make([]bool, len(text))
	}
	return b.String(), lit
}

// settleMarkers returns the writer's text with its placeholders turned into markers and a word
// joiner wherever WhatsApp would otherwise read a literal marker as formatting: in front of a
// literal marker that would open a span, and after one that would close a span the writer opened
// early. The markers the writer put are left to do their work.
func settleMarkers(text string) string {
	s, lit := splitLiteral(text)
	return keepLiteral(s, lit)
}

// escapeMarkers returns text with a word joiner in front of every marker that WhatsApp would read
// as the opening of a style or code span (see the parser), so the text shows as typed. Text that
// WhatsApp would not format is returned unchanged, so a WhatsApp text bridged to Matrix and back is
// unchanged too.
func escapeMarkers(text string) string {
	if !strings.ContainsAny(text, markerBytes) {
		return text
	}
	lit := make([]bool, len(text))
	for i := range len(text) {
		lit[i] = strings.IndexByte(markerBytes, text[i]) >= 0
	}
	return keepLiteral(text, lit)
}

// keepLiteral puts word joiners into s until no marker flagged in lit opens a span, and none closes
// a span opened by a marker that is not flagged.
func keepLiteral(s string, lit []bool) string {
	if !slices.Contains(lit, true) {
		return s
	}
	for range maxEscapeRounds {
		at := misreadMarkers(s, lit)
		if len(at) == 0 {
			return s
		}
		s, lit = insertJoiners(s, lit, at)
	}
	return escapeLiteralOpeners(s, lit)
}

// misreadMarkers returns, in ascending order, the offsets of s where a word joiner keeps a literal
// marker literal: in front of each literal opener of a span the parser finds, and after the literal
// closer of a span whose opener is not literal. A literal span right behind one of the writer's own
// markers ("*x*" then a literal "*y*") gets its joiner after its closer instead, where it does not
// touch that marker (a joiner next to a closer keeps it from closing). The spans inside a span so
// broken are left for the next parse.
func misreadMarkers(s string, lit []bool) []int {
	p := &parser{src: s}
	var at []int
	real := func(i int) bool { return i >= 0 && i < len(s) && !lit[i] && strings.IndexByte(markerBytes, s[i]) >= 0 }
	// check looks at a span whose opener starts at open and whose closer ends at closeEnd (0 for
	// none known); movable: a joiner after its closer keeps it from closing (not so for ```).
	check := func(open, closeEnd int, movable bool) bool {
		closerLit := closeEnd > 0 && closeEnd <= len(s) && lit[closeEnd-1]
		switch {
		case lit[open] && open+1+len(fence) <= len(s) && s[open+1:open+1+len(fence)] == fence && !lit[open+1]:
			// A literal backtick right before the writer's ``` cannot be kept apart from it: a
			// joiner in front of it stops the fence from opening too (the parser reads ``` only
			// at a word's start, and skips a ``` that cannot open). It is left to be read with
			// the code, which at least reads back the same.
			return false
		case lit[open] && movable && closerLit && real(open-1) && !real(closeEnd):
			at = append(at, closeEnd)
		case lit[open]:
			at = append(at, open)
		case closerLit && movable:
			at = append(at, closeEnd)
		default:
			return false
		}
		return true
	}
	var walkInline func([]inline)
	walkInline = func(nodes []inline) {
		for _, n := range nodes {
			switch n.kind {
			case inText, inMention:
			case inCode:
				check(n.start-n.mark, n.end+n.mark, n.mark == 1)
			default:
				if !check(n.start-1, n.end+1, true) {
					walkInline(n.children)
				}
			}
		}
	}
	var walk func([]block)
	walk = func(blocks []block) {
		for _, b := range blocks {
			switch b.kind {
			case blPre:
				check(b.open, 0, false)
			case blQuote:
				walk(b.children)
			default:
				for i, line := range b.lines {
					walkInline(line)
					if b.kind == blList {
						walk(b.items[i])
					}
				}
			}
		}
	}
	walk(p.parse())
	slices.Sort(at)
	return slices.Compact(at)
}

// insertJoiners puts a word joiner in front of each offset of s (ascending), keeping lit in step.
func insertJoiners(s string, lit []bool, offsets []int) (string, []bool) {
	var b strings.Builder
	n := utf8.RuneLen(wordJoiner)
	b.Grow(len(s) + len(offsets)*n)
	out := make([]bool, 0, len(lit)+len(offsets)*n)
	pos := 0
	for _, off := range offsets {
		b.WriteString(s[pos:off])
		out = append(out, lit[pos:off]...)
		b.WriteRune(wordJoiner)
		out = append(out, make([]bool, n)...)
		pos = off
	}
	b.WriteString(s[pos:])
	return b.String(), append(out, lit[pos:]...)
}

// escapeLiteralOpeners is the fallback of keepLiteral: a word joiner in front of every literal
// marker that could open a span, whether or not a closer follows.
func escapeLiteralOpeners(s string, lit []bool) string {
	var b strings.Builder
	prev := '\n'
	for i, r := range s {
		if lit[i] && !isWordRune(prev) {
			if next, size := utf8.DecodeRuneInString(s[i+1:]); size > 0 && !unicode.IsSpace(next) {
				b.WriteRune(wordJoiner)
			}
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}
