package msgconv

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-vcard"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
)

// FuzzParseGeoURI: any input parses or fails without panicking, and what parses is in range and
// comes back at the same place through GeoURI (to 6 decimals).
func FuzzParseGeoURI(f *testing.F) {
	for _, seed := range []string{"geo:52.5,13.4", "geo:-90,180;u=12", "GEO:1,2,3;crs=wgs84;u=1e3", "geo:", "geo:1", "geo:a,b", "geo:91,0", "geo:0,0;u=-1", "geo:1,2;u=1e99"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		lat, long, accuracy, err := ParseGeoURI(uri)
		if err != nil {
			return
		}
		if lat < -90 || lat > 90 || long < -180 || long > 180 {
			t.Fatalf("%q parsed out of range: %v,%v", uri, lat, long)
		}
		lat2, long2, acc2, err := ParseGeoURI(GeoURI(lat, long, accuracy))
		if err != nil || acc2 != accuracy || abs(lat2-lat) > 1e-6 || abs(long2-long) > 1e-6 {
			t.Fatalf("%q -> %s -> %v,%v;u=%d (%v)", uri, GeoURI(lat, long, accuracy), lat2, long2, acc2, err)
		}
	})
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// FuzzVCards: any file from Matrix is either sent as contact cards that parse again, one per card,
// or left to be a document; any card from WhatsApp gets a readable text naming a contact.
func FuzzVCards(f *testing.F) {
	for _, seed := range []string{cardEve, cardTom, cardEve + "\n" + cardTom, "BEGIN:VCARD\nEND:VCARD", "BEGIN:VCARD\nFN:x", "hello",
		"BEGIN:VCARD\r\nN:a;b;;;\r\nTEL:1\r\n folded\r\nEND:VCARD\r\ntrailing"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		if text := describeCard("", data); !strings.HasPrefix(text, "Contact: ") {
			t.Fatalf("card text %q", text)
		}
		msg := contactMessageOf([]byte(data), nil)
		if msg == nil {
			return
		}
		contacts := []*waE2E.ContactMessage{msg.GetContactMessage()}
		if list := msg.GetContactsArrayMessage(); list != nil {
			contacts = list.GetContacts()
		}
		for _, c := range contacts {
			if c == nil || c.GetDisplayName() == "" {
				t.Fatalf("contact without name from %q", data)
			}
			if _, err := vcard.NewDecoder(strings.NewReader(c.GetVcard())).Decode(); err != nil {
				t.Fatalf("sent card %q does not parse: %v", c.GetVcard(), err)
			}
		}
	})
}

// FuzzPolls: any Matrix poll is refused or becomes a WhatsApp poll that shows the same question and
// answers in Matrix again, and any vote maps to options of the poll.
func FuzzPolls(f *testing.F) {
	f.Add("Lunch?", "Pizza\nSushi", 1, "a")
	f.Add("", "x", 0, "")
	f.Add("Q", "a\na\nb", 2, "b,c")
	f.Fuzz(func(t *testing.T, question, answers string, maxSelections int, vote string) {
		if !utf8.ValidString(question) || !utf8.ValidString(answers) {
			return // Matrix content is JSON, always valid UTF-8
		}
		content := &event.PollStartEventContent{PollStart: event.PollStart{MaxSelections: maxSelections, Question: event.MSC1767Message{Text: question}}}
		for i, text := range strings.Split(answers, "\n") {
			content.PollStart.Answers = append(content.PollStart.Answers, event.PollOption{ID: string(rune('a' + i%26)), MSC1767Message: event.MSC1767Message{Text: text}})
		}
		poll, err := PollFromMatrix(content)
		if err != nil {
			return
		}
		wa := &waE2E.PollCreationMessage{Name: proto.String(poll.Question), SelectableOptionsCount: proto.Uint32(uint32(poll.Selectable))}
		for _, opt := range poll.Options {
			wa.Options = append(wa.Options, &waE2E.PollCreationMessage_Option{OptionName: proto.String(opt)})
		}
		start, _ := sentContent(t, convertPoll(wa))
		if start.PollStart.Question.Text != poll.Question || len(start.PollStart.Answers) != len(poll.Options) {
			t.Fatalf("poll %+v came back as %+v", poll, start.PollStart)
		}
		names, err := PollVoteFromMatrix(wa, poll.AnswerIDs, strings.Split(vote, ","))
		if err != nil {
			return
		}
		for _, name := range names {
			if !containsName(poll.Options, name) {
				t.Fatalf("vote chose %q, not an option of %v", name, poll.Options)
			}
		}
	})
}

func containsName(options []string, name string) bool {
	for _, o := range options {
		if o == name {
			return true
		}
	}
	return false
}
