// Package exportgen writes WhatsApp "Export chat" archives for tests: the chat text in each
// layout and locale variant chatexport reads, and .zip archives with media, all from messages the
// test makes up (no real chats). It also builds broken archives (damaged, zip bomb).
package exportgen

import (
	"archive/zip"
	"bytes"
	"strings"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/chatexport"
)

// Message is one message to write; the fields mean what they mean in chatexport.Message.
// OmittedKind ("image", "video", ...) is the kind iOS names for KindMediaOmitted.
type Message struct {
	Time        time.Time
	Sender      string
	Text        string
	Kind        chatexport.Kind
	Attachment  string
	OmittedKind string
	Edited      bool
}

// Style is one layout of a WhatsApp app in one locale.
type Style struct {
	Name string
	IOS  bool
	// Date and Clock are Go time layouts for the header's date and time.
	Date, Clock string
	// NoComma writes "date time" instead of "date, time".
	NoComma bool
}

// Styles are the layouts the tests cover: Android and iOS, 12 and 24 hours, month/day,
// day/month and year-month-day order, "/", "." and "-" separators.
var Styles = []Style{
	{Name: "android-us", Date: "1/2/06", Clock: "3:04\u202fPM"},
	{Name: "android-uk", Date: "02/01/2006", Clock: "15:04"},
	{Name: "android-de", Date: "02.01.06", Clock: "15:04"},
	{Name: "android-iso", Date: "2006-01-02", Clock: "15:04", NoComma: true},
	{Name: "ios-us", IOS: true, Date: "1/2/06", Clock: "3:04:05\u202fPM"},
	{Name: "ios-uk", IOS: true, Date: "02/01/2006", Clock: "15:04:05"},
	{Name: "ios-de", IOS: true, Date: "02.01.06", Clock: "15:04:05"},
}

// StyleNamed returns the style of that name (zero Style when unknown).
func StyleNamed(name string) Style {
	for _, s := range Styles {
		if s.Name == name {
			return s
		}
	}
	return Style{}
}

const lrm = "\u200e"

// Text writes the chat text of msgs in style s. withMedia writes attachments as exported with
// media, otherwise as omitted; chatName is the sender iOS gives its system lines.
func Text(s Style, chatName string, msgs []Message, withMedia bool) string {
	var sb strings.Builder
	for _, m := range msgs {
		stamp := m.Time.Format(s.Date)
		if s.NoComma {
			stamp += " "
		} else {
			stamp += ", "
		}
		stamp += m.Time.Format(s.Clock)
		body, marked := body(s, m, withMedia)
		if s.IOS {
			if marked {
				sb.WriteString(lrm)
			}
			sb.WriteString("[" + stamp + "] ")
			sender := m.Sender
			if m.Kind == chatexport.KindSystem && sender == "" {
				sender = chatName
			}
			sb.WriteString(sender + ": ")
			if marked {
				sb.WriteString(lrm)
			}
		} else {
			sb.WriteString(stamp + " - ")
			if m.Kind != chatexport.KindSystem {
				sb.WriteString(m.Sender + ": ")
			}
		}
		sb.WriteString(body)
		sb.WriteString("\n")
	}
	return sb.String()
}

// body is the text after the sender, and whether iOS marks it with a left-to-right mark.
func body(s Style, m Message, withMedia bool) (string, bool) {
	text := m.Text
	edited := ""
	if m.Edited {
		edited = " <This message was edited>"
		if s.IOS {
			edited = " " + lrm + "<This message was edited>"
		}
	}
	withCaption := func(first string) string {
		if text == "" {
			return first
		}
		return first + "\n" + text
	}
	switch m.Kind {
	case chatexport.KindSystem:
		return text, true
	case chatexport.KindDeleted:
		if s.IOS {
			return "This message was deleted.", true
		}
		return "This message was deleted", false
	case chatexport.KindMedia, chatexport.KindMediaOmitted:
		switch {
		case withMedia && m.Kind == chatexport.KindMedia && s.IOS:
			return withCaption("<attached: "+m.Attachment+">") + edited, true
		case withMedia && m.Kind == chatexport.KindMedia:
			return withCaption(m.Attachment+" (file attached)") + edited, false
		case s.IOS:
			kind := m.OmittedKind
			if kind == "" {
				kind = "image"
			}
			return kind + " omitted", true
		default:
			return "<Media omitted>", false
		}
	}
	return text + edited, false
}

// Zip packs the chat text and media into an export .zip named as the style's app names it:
// iOS "_chat.txt", Android "WhatsApp Chat with <chatName>.txt".
func Zip(s Style, chatName, text string, media map[string][]byte) []byte {
	name := "WhatsApp Chat with " + chatName + ".txt"
	if s.IOS {
		name = "_chat.txt"
	}
	files := map[string][]byte{name: []byte(text)}
	for k, v := range media {
		files[k] = v
	}
	return ZipFiles(files)
}

// ZipFiles packs files (deflated) into a .zip.
func ZipFiles(files map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			panic(err)
		}
		if _, err = w.Write(data); err != nil {
			panic(err)
		}
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Bomb is a small .zip holding a chat text and one file of n zero bytes (deflate packs it about
// a thousand times smaller).
func Bomb(s Style, text string, n int64) []byte {
	return Zip(s, "Bomb", text, map[string][]byte{"IMG-20240101-WA0001.jpg": make([]byte, n)})
}

// Truncated is the first half of data: a .zip whose end is missing, as after an interrupted
// upload.
func Truncated(data []byte) []byte {
	return bytes.Clone(data[:len(data)/2])
}
