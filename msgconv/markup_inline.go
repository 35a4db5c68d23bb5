package msgconv

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.mau.fi/whatsmeow/types"
)

// maxNesting bounds how deeply styles nest; deeper markers stay text. It
// keeps the recursion shallow on hostile input.
const maxNesting = 16

// lineScan is what the inline parser knows about one line, computed once so
// that parsing stays near-linear: the atoms (code spans, URLs and mentions,
// whose content is never parsed for markers) and, for each of *, _ and ~,
// the positions outside atoms where that marker may close a span.
type lineScan struct {
	lo, hi  int
	atoms   []lineAtom
	closers [3][]int
}

// lineAtom is a code span, URL or mention covering src[start:end]; inner is the
// code content of a code span.
type lineAtom struct {
	kind       inlineKind // inCode, inMention, or inText for a URL
	start, end int
	inner      span
	jid        types.JID
}

// parseLine parses the inline content of one line, src[lo:hi].
//
// WhatsApp's rules: an opening marker must not follow a letter or digit and
// must be followed by a non-space; a closing marker must follow a non-space
// and must not be followed by a letter or digit; the first valid closer wins.
// Code content and URLs are literal.
func (p *parser) parseLine(lo, hi int) []inline {
	ls := p.scanLine(lo, hi)
	return p.parseInline(ls, lo, hi, 0)
}

func (p *parser) parseInline(ls *lineScan, start, end, depth int) []inline {
	var out []inline
	textStart := start
	// emit appends the text before a node whose source (markers included)
	// starts at from, then the node itself.
	emit := func(node inline, from, to int) {
		if from > textStart {
			out = append(out, inline{kind: inText, start: textStart, end: from})
		}
		out = append(out, node)
		textStart = to
	}
	next := sort.Search(len(ls.atoms), func(j int) bool { return ls.atoms[j].start >= start })
	for i := start; i < end; {
		if next < len(ls.atoms) && ls.atoms[next].start == i {
			a := ls.atoms[next]
			next++
			switch a.kind {
			case inCode:
				emit(inline{kind: inCode, start: a.inner.start, end: a.inner.end, mark: a.inner.start - a.start}, a.start, a.end)
			case inMention:
				emit(inline{kind: inMention, start: a.start, end: a.end, jid: a.jid}, a.start, a.end)
			}
			i = a.end
			continue
		}
		if m := markerIndex(p.src[i]); m >= 0 && depth < maxNesting && p.canOpen(i, ls) {
			list := ls.closers[m]
			j := sort.SearchInts(list, i+2)
			if j < len(list) && list[j] < end {
				cl := list[j]
				node := inline{kind: markerKind(p.src[i]), start: i + 1, end: cl}
				node.children = p.parseInline(ls, i+1, cl, depth+1)
				emit(node, i, cl+1)
				i = cl + 1
				for next < len(ls.atoms) && ls.atoms[next].start < i {
					next++
				}
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

// scanLine finds the atoms and closer positions of the line src[lo:hi].
func (p *parser) scanLine(lo, hi int) *lineScan {
	ls := &lineScan{lo: lo, hi: hi}
	var ticks []int // where a single backtick may close a code span
	for k := lo; k < hi; k++ {
		if p.src[k] == '`' && p.canClose(k, ls) {
			ticks = append(ticks, k)
		}
	}
	noFence := false // no closing ``` is left on the line
	for i := lo; i < hi; {
		switch c := p.src[i]; {
		case strings.HasPrefix(p.src[i:hi], fence):
			if !noFence && p.fenceCanOpen(i, lo) {
				c := strings.Index(p.src[i+len(fence):hi], fence)
				if c > 0 {
					end := i + c + 2*len(fence)
					ls.atoms = append(ls.atoms, lineAtom{kind: inCode, start: i, end: end, inner: span{i + len(fence), end - len(fence)}})
					i = end
					continue
				}
				noFence = c < 0
			}
			i += len(fence)
			continue
		case c == '`':
			if p.canOpen(i, ls) {
				if j := sort.SearchInts(ticks, i+2); j < len(ticks) {
					ls.atoms = append(ls.atoms, lineAtom{kind: inCode, start: i, end: ticks[j] + 1, inner: span{i + 1, ticks[j]}})
					i = ticks[j] + 1
					continue
				}
			}
		case c == '@':
			if n, jid, ok := p.mentionAt(i, hi, lo); ok {
				ls.atoms = append(ls.atoms, lineAtom{kind: inMention, start: i, end: i + n, jid: jid})
				i += n
				continue
			}
		default:
			if n := p.urlLen(i, hi, lo); n > 0 {
				ls.atoms = append(ls.atoms, lineAtom{kind: inText, start: i, end: i + n})
				i += n
				continue
			}
		}
		i++
	}
	next := 0
	for k := lo; k < hi; k++ {
		if next < len(ls.atoms) && ls.atoms[next].start == k {
			k = ls.atoms[next].end - 1
			next++
			continue
		}
		if m := markerIndex(p.src[k]); m >= 0 && p.canClose(k, ls) {
			ls.closers[m] = append(ls.closers[m], k)
		}
	}
	return ls
}

func markerIndex(c byte) int {
	switch c {
	case '*':
		return 0
	case '_':
		return 1
	case '~':
		return 2
	}
	return -1
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

// canOpen reports whether the marker at i may open a span: it does not follow
// a letter or digit and is followed by a non-space.
func (p *parser) canOpen(i int, ls *lineScan) bool {
	if i+1 >= ls.hi {
		return false
	}
	next, _ := utf8.DecodeRuneInString(p.src[i+1 : ls.hi])
	if unicode.IsSpace(next) {
		return false
	}
	return i == ls.lo || !isWordRune(lastRune(p.src[ls.lo:i]))
}

// canClose reports whether the marker at k may close a span: it follows a
// non-space and is not followed by a letter or digit. (The span must also be
// non-empty, which the caller checks.)
func (p *parser) canClose(k int, ls *lineScan) bool {
	if k == ls.lo || unicode.IsSpace(lastRune(p.src[ls.lo:k])) {
		return false
	}
	if k+1 >= ls.hi {
		return true
	}
	next, _ := utf8.DecodeRuneInString(p.src[k+1 : ls.hi])
	return !isWordRune(next)
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

// isWordRune reports whether r is part of a word for WhatsApp's marker rules: a letter, digit or
// combining mark, or a word joiner (which the bridge uses to keep a marker literal).
func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r) || r == wordJoiner)
}

func lastRune(s string) rune {
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}
