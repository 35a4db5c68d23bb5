package chatexport

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrUnknownFormat means the text is not a WhatsApp chat export: not UTF-8, or no line starts a
// message in a layout Parse knows.
var ErrUnknownFormat = errors.New("not a WhatsApp chat export in a format the bridge knows")

// Kind says what a Message is.
type Kind int

const (
	// KindText is an ordinary message.
	KindText Kind = iota
	// KindSystem is a line WhatsApp itself wrote ("Messages and calls are end-to-end encrypted",
	// "Alice created group ...").
	KindSystem
	// KindMedia is an attachment exported with the chat: Attachment names its file in the archive.
	KindMedia
	// KindMediaOmitted is an attachment exported without media ("<Media omitted>", "image omitted").
	KindMediaOmitted
	// KindDeleted is a message deleted for everyone ("This message was deleted").
	KindDeleted
)

func (k Kind) String() string {
	return [...]string{"text", "system", "media", "media omitted", "deleted"}[k]
}

// Message is one message of an export.
type Message struct {
	// Line is the 1-based line number of the message's first line.
	Line int
	// Time is the message's time on the exporting phone's clock, in the Location given to Parse.
	// Exports have minute or second precision.
	Time time.Time
	// Sender is the name or number as the exporting phone showed it, without direction marks; ""
	// for system lines that name no sender.
	Sender string
	// Text is the message text (lines joined by "\n"); for media the caption, for system lines
	// the system text.
	Text string
	Kind Kind
	// Attachment is the file name of a KindMedia message's attachment, as written in the text.
	Attachment string
	// Edited says the export marked the message "<This message was edited>".
	Edited bool
}

// Line is a line of the export that Parse could not read as (part of) a message.
type Line struct {
	// No is the 1-based line number.
	No   int
	Text string
}

// Format describes the layout Parse found.
type Format struct {
	// IOS is the bracketed iOS layout; otherwise Android's "date, time - sender: text".
	IOS bool
	// DayFirst is day/month order; YearFirst is year-month-day (neither: month/day).
	DayFirst, YearFirst bool
	// Clock12 is a 12-hour clock with AM/PM.
	Clock12 bool
}

func (f Format) String() string {
	parts := []string{"Android"}
	if f.IOS {
		parts[0] = "iOS"
	}
	switch {
	case f.YearFirst:
		parts = append(parts, "year-month-day")
	case f.DayFirst:
		parts = append(parts, "day/month")
	default:
		parts = append(parts, "month/day")
	}
	if f.Clock12 {
		parts = append(parts, "12-hour")
	} else {
		parts = append(parts, "24-hour")
	}
	return strings.Join(parts, ", ")
}

// Result is a parsed export.
type Result struct {
	Format   Format
	Messages []Message
	// Unparsed are the lines Parse could not read, in file order.
	Unparsed []Line
}

// stamp is the date and time fields of a header as written (a, b, c are the date fields in file
// order; second is -1 when absent; ampm is 'a', 'p' or 0).
type stamp struct {
	a, b, c              int
	aDigits              int
	hour, minute, second int
	ampm                 byte
}

const stampPattern = `(\d{1,4})[./-](\d{1,2})[./-](\d{1,4}),? ?(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?(?: ?([AaPp])\.? ?[Mm]\.?)?`

var (
	iosHeader     = regexp.MustCompile(`^\[` + stampPattern + `\] ?(.*)$`)
	androidHeader = regexp.MustCompile(`^` + stampPattern + ` [-–] (.*)$`)
)

// header is a line that starts a message: its stamp and the rest of the line.
type header struct {
	stamp stamp
	rest  string
}

func matchHeader(re *regexp.Regexp, line string) (header, bool) {
	m := re.FindStringSubmatch(line)
	if m == nil {
		return header{}, false
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	st := stamp{a: num(m[1]), b: num(m[2]), c: num(m[3]), aDigits: len(m[1]), hour: num(m[4]), minute: num(m[5]), second: -1}
	if m[6] != "" {
		st.second = num(m[6])
	}
	if m[7] != "" {
		st.ampm = strings.ToLower(m[7])[0]
	}
	return header{stamp: st, rest: m[8]}, true
}

// normalizeSpaces turns the no-break spaces WhatsApp writes around times into plain spaces.
func normalizeSpaces(s string) string {
	return strings.NewReplacer("\u202f", " ", "\u00a0", " ", "\u2009", " ").Replace(s)
}

// isMark reports the invisible direction marks WhatsApp writes (LRM, RLM, ALM, embeddings,
// isolates) and the byte order mark.
func isMark(r rune) bool {
	return r == '\u200e' || r == '\u200f' || r == '\u061c' || r == '\ufeff' ||
		(r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

// trimMarks removes direction marks at the start of s and reports whether there were any.
func trimMarks(s string) (string, bool) {
	t := strings.TrimLeftFunc(s, isMark)
	return t, len(t) != len(s)
}

// dropMarks removes every direction mark from s.
func dropMarks(s string) string {
	return strings.Map(func(r rune) rune {
		if isMark(r) {
			return -1
		}
		return r
	}, s)
}

// Parse reads the text of a chat export. Times are placed in loc (nil: UTC). It fails only with
// ErrUnknownFormat; lines it cannot read are in Result.Unparsed.
func Parse(text string, loc *time.Location) (*Result, error) {
	if loc == nil {
		loc = time.UTC
	}
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("%w: the text is not UTF-8", ErrUnknownFormat)
	}
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("%w: the chat text has no lines", ErrEmpty)
	}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1] // the newline that ends the file
	}
	ios := make([]*header, len(lines))
	android := make([]*header, len(lines))
	nIOS, nAndroid := 0, 0
	for i, raw := range lines {
		line, _ := trimMarks(normalizeSpaces(raw))
		if h, ok := matchHeader(iosHeader, line); ok {
			ios[i] = &h
			nIOS++
		} else if h, ok := matchHeader(androidHeader, line); ok {
			android[i] = &h
			nAndroid++
		}
	}
	if nIOS == 0 && nAndroid == 0 {
		return nil, ErrUnknownFormat
	}
	headers := android
	res := &Result{}
	if nIOS >= nAndroid {
		headers, res.Format.IOS = ios, true
	}
	res.Format.DayFirst, res.Format.YearFirst, res.Format.Clock12 = decideOrder(headers, loc)

	var cur *Message
	var body []string
	flush := func() {
		if cur != nil {
			finish(cur, body, res.Format.IOS)
			res.Messages = append(res.Messages, *cur)
			cur, body = nil, nil
		}
	}
	broken := false // the last header could not be read: its continuation lines are unread too
	for i, raw := range lines {
		raw = strings.TrimSuffix(raw, "\r")
		if h := headers[i]; h != nil {
			flush()
			t, ok := h.stamp.time(res.Format, loc)
			if !ok {
				res.Unparsed = append(res.Unparsed, Line{No: i + 1, Text: raw})
				broken = true
				continue
			}
			broken = false
			cur = &Message{Line: i + 1, Time: t}
			body = []string{h.rest}
			continue
		}
		switch {
		case cur != nil:
			body = append(body, raw)
		case broken || strings.TrimSpace(dropMarks(raw)) != "":
			res.Unparsed = append(res.Unparsed, Line{No: i + 1, Text: raw})
		}
	}
	flush()
	return res, nil
}

// decideOrder finds the date order and clock of the headers. A first field of four digits is
// year-month-day; a first field above 12 means day/month, a second one above 12 month/day;
// otherwise the order under which the messages run forwards in time wins (day/month on a tie,
// unless the clock has AM/PM, as in the United States).
func decideOrder(headers []*header, loc *time.Location) (dayFirst, yearFirst, clock12 bool) {
	var aBig, bBig, yFirst, total int
	for _, h := range headers {
		if h == nil {
			continue
		}
		total++
		if h.stamp.ampm != 0 {
			clock12 = true
		}
		switch {
		case h.stamp.aDigits == 4:
			yFirst++
		case h.stamp.a > 12:
			aBig++
		case h.stamp.b > 12:
			bBig++
		}
	}
	switch {
	case yFirst*2 > total:
		return false, true, clock12
	case aBig > bBig:
		return true, false, clock12
	case bBig > aBig:
		return false, false, clock12
	}
	backwards := func(f Format) int {
		n := 0
		var last time.Time
		for _, h := range headers {
			if h == nil {
				continue
			}
			t, ok := h.stamp.time(f, loc)
			if !ok {
				n++
				continue
			}
			if t.Before(last) {
				n++
			}
			last = t
		}
		return n
	}
	dm := backwards(Format{DayFirst: true, Clock12: clock12})
	md := backwards(Format{Clock12: clock12})
	if dm == md {
		return !clock12, false, clock12
	}
	return dm < md, false, clock12
}

// time reads the stamp in format f; false when a field is out of range.
func (s stamp) time(f Format, loc *time.Location) (time.Time, bool) {
	var year, month, day int
	switch {
	case f.YearFirst:
		year, month, day = s.a, s.b, s.c
	case f.DayFirst:
		day, month, year = s.a, s.b, s.c
	default:
		month, day, year = s.a, s.b, s.c
	}
	if year < 100 {
		year += 2000
	}
	hour := s.hour
	if f.Clock12 {
		if s.ampm == 0 || hour < 1 || hour > 12 {
			return time.Time{}, false
		}
		hour %= 12
		if s.ampm == 'p' {
			hour += 12
		}
	} else if s.ampm != 0 {
		return time.Time{}, false
	}
	second := max(s.second, 0)
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || s.minute > 59 || second > 59 || year > 2999 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, s.minute, second, 0, loc)
	if t.Day() != day {
		return time.Time{}, false // e.g. 31 February
	}
	return t, true
}
