package chatexport_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/chatexport"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/exportgen"
)

// conversation is a made-up chat with every kind of line an export has.
func conversation(loc *time.Location) []exportgen.Message {
	at := func(day, hour, minute, second int) time.Time {
		return time.Date(2023, time.December, day, hour, minute, second, 0, loc)
	}
	return []exportgen.Message{
		{Time: at(3, 8, 5, 0), Kind: chatexport.KindSystem, Text: "Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read or listen to them."},
		{Time: at(3, 8, 5, 0), Sender: "Carol Example", Text: "Good morning"},
		{Time: at(3, 13, 7, 0), Sender: "Alice", Text: "Three lines:\nthe second\n\nand after a blank one"},
		{Time: at(13, 21, 41, 0), Sender: "+49 176 00000499", Text: "a number without a name"},
		{Time: at(13, 21, 42, 0), Sender: "Carol Example", Kind: chatexport.KindMedia, Attachment: "IMG-20231213-WA0001.jpg", Text: "the view", OmittedKind: "image"},
		{Time: at(13, 21, 43, 0), Sender: "Alice", Kind: chatexport.KindDeleted},
		{Time: at(14, 0, 2, 0), Sender: "Carol Example", Text: "see you tomorow", Edited: true},
		{Time: at(14, 12, 30, 0), Sender: "Dana", Text: "\u200fשלום, מה שלומך?"},
		{Time: at(24, 23, 59, 0), Sender: "Alice", Kind: chatexport.KindMedia, Attachment: "PTT-20231224-WA0002.opus", OmittedKind: "audio"},
	}
}

// wantMessage is what Parse must give for a generated message.
func wantMessage(s exportgen.Style, m exportgen.Message, withMedia bool) chatexport.Message {
	want := chatexport.Message{Time: m.Time, Sender: m.Sender, Text: m.Text, Kind: m.Kind, Attachment: m.Attachment, Edited: m.Edited}
	if !strings.Contains(s.Clock, "05") {
		want.Time = want.Time.Truncate(time.Minute)
	}
	if s.IOS && m.Kind == chatexport.KindSystem {
		want.Sender = "Book club"
	}
	if m.Kind == chatexport.KindMedia && !withMedia {
		want.Kind, want.Attachment, want.Text = chatexport.KindMediaOmitted, "", ""
	}
	if m.Kind == chatexport.KindDeleted {
		want.Text = ""
	}
	if m.Sender == "Dana" {
		want.Text = strings.TrimPrefix(m.Text, "\u200f") // the mark at the start of the text is dropped
	}
	return want
}

func TestParseEachStyle(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("UTC+1", 3600)
	msgs := conversation(loc)
	for _, style := range exportgen.Styles {
		for _, withMedia := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/media=%v", style.Name, withMedia), func(t *testing.T) {
				t.Parallel()
				text := exportgen.Text(style, "Book club", msgs, withMedia)
				res, err := chatexport.Parse(text, loc)
				if err != nil {
					t.Fatal(err)
				}
				if res.Format.IOS != style.IOS || res.Format.Clock12 != strings.Contains(style.Clock, "PM") {
					t.Errorf("format %s, want the %s style", res.Format, style.Name)
				}
				if len(res.Unparsed) != 0 {
					t.Errorf("unparsed lines: %+v", res.Unparsed)
				}
				if len(res.Messages) != len(msgs) {
					t.Fatalf("%d messages, want %d:\n%s", len(res.Messages), len(msgs), text)
				}
				for i, m := range msgs {
					got, want := res.Messages[i], wantMessage(style, m, withMedia)
					got.Line = 0
					if !got.Time.Equal(want.Time) {
						t.Errorf("message %d at %s, want %s", i, got.Time, want.Time)
					}
					got.Time = want.Time
					if got != want {
						t.Errorf("message %d =\n%+v, want\n%+v", i, got, want)
					}
				}
			})
		}
	}
}

// TestParseDateOrder: with no day above 12 the order is the one under which the messages run
// forwards; a day above 12 settles it however the rest reads.
func TestParseDateOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text string
		dayFirst   bool
		first      time.Time
	}{
		{"day/month by forward time", "01/02/2024, 10:00 - A: x\n05/02/2024, 10:00 - A: y\n03/03/2024, 10:00 - A: z\n",
			true, time.Date(2024, 2, 1, 10, 0, 0, 0, time.UTC)},
		{"month/day by forward time", "01/02/2024, 10:00 - A: x\n01/05/2024, 10:00 - A: y\n03/03/2024, 10:00 - A: z\n",
			false, time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC)},
		{"day above 12", "01/02/2024, 10:00 - A: x\n25/01/2024, 10:00 - A: y\n",
			true, time.Date(2024, 2, 1, 10, 0, 0, 0, time.UTC)},
		{"12-hour tie is month/day", "1/2/24, 10:00 AM - A: x\n", false, time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC)},
		{"24-hour tie is day/month", "1/2/24, 10:00 - A: x\n", true, time.Date(2024, 2, 1, 10, 0, 0, 0, time.UTC)},
		{"12 AM is midnight", "[1/2/24, 12:05:00 AM] A: x\n", false, time.Date(2024, 1, 2, 0, 5, 0, 0, time.UTC)},
		{"12 PM is noon", "1/2/24, 12:05\u00a0p.m. - A: x\n", false, time.Date(2024, 1, 2, 12, 5, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := chatexport.Parse(tt.text, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Format.DayFirst != tt.dayFirst || !res.Messages[0].Time.Equal(tt.first) {
				t.Errorf("format %s, first at %s; want day first %v at %s", res.Format, res.Messages[0].Time, tt.dayFirst, tt.first)
			}
		})
	}
}

// TestParseUnparsed: text before the first message and headers with impossible dates are
// reported with their line numbers, together with the lines that continue them; the rest is read.
func TestParseUnparsed(t *testing.T) {
	t.Parallel()
	text := "exported by hand\n" +
		"31/12/2023, 21:41 - Alice: fine\n" +
		"31/02/2023, 21:42 - Alice: there is no 31 February\n" +
		"and its second line\n" +
		"01/01/2024, 25:00 - Alice: no hour 25\n" +
		"01/01/2024, 00:01 - Bob: happy new year\n" +
		"second line\r\n"
	res, err := chatexport.Parse(text, nil)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, l := range res.Unparsed {
		lines = append(lines, l.No)
	}
	if fmt.Sprint(lines) != "[1 3 4 5]" {
		t.Errorf("unparsed lines %v (%+v), want [1 3 4 5]", lines, res.Unparsed)
	}
	if len(res.Messages) != 2 || res.Messages[1].Text != "happy new year\nsecond line" || res.Messages[1].Line != 6 {
		t.Errorf("messages %+v", res.Messages)
	}
}

func TestParseUnknownFormat(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{
		"prose":      "Dear diary,\ntoday nothing happened.\n",
		"csv":        "date,sender,text\n2023-12-31,Alice,hi\n",
		"not UTF-8":  "31/12/2023, 21:41 - Alice: \xff\xfe\n",
		"other chat": "[21:41] <alice> hi\n",
	} {
		if _, err := chatexport.Parse(text, nil); !errors.Is(err, chatexport.ErrUnknownFormat) {
			t.Errorf("%s: err = %v, want ErrUnknownFormat", name, err)
		}
	}
	// An empty text is named as such.
	for _, text := range []string{"", "\n", " \r\n\t\n"} {
		if _, err := chatexport.Parse(text, nil); !errors.Is(err, chatexport.ErrEmpty) {
			t.Errorf("%q: err = %v, want ErrEmpty", text, err)
		}
	}
}

// TestKeys: keys stay the same when the export grows, and repeats of one message get their own.
func TestKeys(t *testing.T) {
	t.Parallel()
	style := exportgen.StyleNamed("ios-uk")
	msgs := conversation(time.UTC)
	repeat := exportgen.Message{Time: msgs[1].Time, Sender: "Carol Example", Text: "Good morning"}
	short, _ := chatexport.Parse(exportgen.Text(style, "c", msgs[:4], true), time.UTC)
	long, _ := chatexport.Parse(exportgen.Text(style, "c", append(msgs, repeat), true), time.UTC)
	a, b := chatexport.Keys(short.Messages), chatexport.Keys(long.Messages)
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("key %d changed when the export grew", i)
		}
	}
	seen := map[string]bool{}
	for _, k := range b {
		if seen[k] {
			t.Errorf("key %s repeats", k)
		}
		seen[k] = true
	}
}
