package msgconv

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// wordJoiner (U+2060 WORD JOINER) is the invisible character the bridge puts in front of a literal
// WhatsApp marker to keep it literal. WhatsApp has no escape character; a marker opens a span only
// at the start of a word (not after a letter, digit or joiner), so a joiner in front of it makes the
// apps show it as typed. Unlike U+200B ZERO WIDTH SPACE it never adds a line-break opportunity.
const wordJoiner = '\u2060'

// maxEscapeRounds bounds how often escapeMarkers re-parses the text; breaking one pair of markers
// can let another pair form, which is rare beyond two rounds.
const maxEscapeRounds = 8

// escapeMarkers returns text with a word joiner in front of every marker that WhatsApp would read
// as the opening of a style or code span (see the parser), so the text shows as typed. Text that
// WhatsApp would not format is returned unchanged, so a WhatsApp text bridged to Matrix and back is
// unchanged too.
func escapeMarkers(text string) string {
	if !strings.ContainsAny(text, "*_~`") {
		return text
	}
	for range maxEscapeRounds {
		opens := formattingOpeners(text)
		if len(opens) == 0 {
			return text
		}
		text = insertJoiners(text, opens)
	}
	return escapeAllOpeners(text)
}

// formattingOpeners returns the offsets of the opening markers of the style and code spans the
// parser finds in text, in ascending order.
func formattingOpeners(text string) []int {
	p := &parser{src: text}
	var opens []int
	var walkInline func([]inline)
	walkInline = func(nodes []inline) {
		for _, n := range nodes {
			switch n.kind {
			case inText, inMention:
			case inCode:
				if n.start >= len(fence) && text[n.start-len(fence):n.start] == fence {
					opens = append(opens, n.start-len(fence))
				} else {
					opens = append(opens, n.start-1)
				}
			default:
				opens = append(opens, n.start-1)
				walkInline(n.children)
			}
		}
	}
	var walk func([]block)
	walk = func(blocks []block) {
		for _, b := range blocks {
			switch b.kind {
			case blPre:
				opens = append(opens, b.open)
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
	return opens
}

// insertJoiners puts a word joiner in front of each offset of text.
func insertJoiners(text string, offsets []int) string {
	var b strings.Builder
	b.Grow(len(text) + len(offsets)*utf8.RuneLen(wordJoiner))
	pos := 0
	for _, off := range offsets {
		if off < pos {
			continue
		}
		b.WriteString(text[pos:off])
		b.WriteRune(wordJoiner)
		pos = off
	}
	b.WriteString(text[pos:])
	return b.String()
}

// escapeAllOpeners is the fallback of escapeMarkers: a word joiner in front of every marker that
// could open a span, whether or not a closer follows.
func escapeAllOpeners(text string) string {
	var b strings.Builder
	prev := '\n'
	for i, r := range text {
		if r < utf8.RuneSelf && strings.IndexByte("*_~`", byte(r)) >= 0 && !isWordRune(prev) {
			if next, size := utf8.DecodeRuneInString(text[i+1:]); size > 0 && !unicode.IsSpace(next) {
				b.WriteRune(wordJoiner)
			}
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}
