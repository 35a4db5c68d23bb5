package msgconv

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
)

func waPoll(name string, selectable uint32, options ...string) *waE2E.PollCreationMessage {
	poll := &waE2E.PollCreationMessage{Name: proto.String(name), SelectableOptionsCount: proto.Uint32(selectable)}
	for _, opt := range options {
		poll.Options = append(poll.Options, &waE2E.PollCreationMessage_Option{OptionName: proto.String(opt)})
	}
	return poll
}

// sentContent marshals a part as it goes to the homeserver and parses it back as a Matrix client
// would.
func sentContent(t *testing.T, part Part) (*event.PollStartEventContent, map[string]any) {
	t.Helper()
	raw, err := json.Marshal(part.EventContent())
	if err != nil {
		t.Fatal(err)
	}
	var parsed event.PollStartEventContent
	var fields map[string]any
	if err = json.Unmarshal(raw, &parsed); err != nil {
		t.Fatal(err)
	}
	if err = json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	return &parsed, fields
}

func TestPollFromWhatsApp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		msg      *waE2E.Message
		max      int
		fallback string
		replyTo  bool
	}{
		{name: "single choice", msg: &waE2E.Message{PollCreationMessage: waPoll("Lunch?", 1, "Pizza", "Sushi")},
			max: 1, fallback: "Lunch?\n1. Pizza\n2. Sushi"},
		{name: "single choice v3", msg: &waE2E.Message{PollCreationMessageV3: waPoll("Lunch?", 1, "Pizza", "Sushi")},
			max: 1, fallback: "Lunch?\n1. Pizza\n2. Sushi"},
		{name: "any number", msg: &waE2E.Message{PollCreationMessage: waPoll("Lunch?", 0, "Pizza", "Sushi", "Soup")},
			max: 3, fallback: "Lunch? (choose up to 3)\n1. Pizza\n2. Sushi\n3. Soup"},
		{name: "up to two", msg: &waE2E.Message{PollCreationMessageV2: waPoll("Lunch?", 2, "Pizza", "Sushi", "Soup")},
			max: 2, fallback: "Lunch? (choose up to 2)\n1. Pizza\n2. Sushi\n3. Soup"},
		{name: "reply", msg: &waE2E.Message{PollCreationMessage: func() *waE2E.PollCreationMessage {
			p := waPoll("Lunch?", 1, "Pizza", "Sushi")
			p.ContextInfo = replyInfo(quotedWAID)
			return p
		}()}, max: 1, fallback: "Lunch?\n1. Pizza\n2. Sushi", replyTo: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conv := &FromWhatsApp{QuotedEvent: fakeQuotedEvent}
			converted, err := conv.Convert(context.Background(), tt.msg)
			if err != nil || len(converted.Parts) != 1 {
				t.Fatalf("Convert: %v, %+v", err, converted)
			}
			part := converted.Parts[0]
			if part.Type != event.EventUnstablePollStart {
				t.Fatalf("event type %s, want a poll start", part.Type.Type)
			}
			poll, fields := sentContent(t, part)
			start := poll.PollStart
			options := PollOptionNames(PollCreation(tt.msg))
			if start.Question.Text != "Lunch?" || start.Kind != pollKindDisclosed || start.MaxSelections != tt.max || len(start.Answers) != len(options) {
				t.Fatalf("poll start %+v", start)
			}
			for i, answer := range start.Answers {
				if answer.Text != options[i] || answer.ID != PollAnswerID(options[i]) || part.PollAnswers[i] != answer.ID {
					t.Errorf("answer %d = %+v (stored ID %q), want %q with ID %s", i, answer, part.PollAnswers[i], options[i], PollAnswerID(options[i]))
				}
			}
			if fields[textKey] != tt.fallback || fields["body"] != tt.fallback {
				t.Errorf("fallback %q / body %q, want %q", fields[textKey], fields["body"], tt.fallback)
			}
			if _, ok := fields["msgtype"]; ok {
				t.Errorf("poll start has a msgtype: %v", fields)
			}
			if got := poll.RelatesTo.GetReplyTo(); (got == quotedEventID) != tt.replyTo {
				t.Errorf("reply to %q", got)
			}
		})
	}
}

func TestPollVoteToMatrix(t *testing.T) {
	t.Parallel()
	poll := waPoll("Lunch?", 0, "Pizza", "Sushi", "Soup")
	hashes := whatsmeow.HashPollOptions([]string{"Pizza", "Sushi", "Soup"})
	tests := []struct {
		name      string
		answerIDs []string
		selected  [][]byte
		want      []string
	}{
		{name: "one option", selected: [][]byte{hashes[1]}, want: []string{PollAnswerID("Sushi")}},
		{name: "two options", selected: [][]byte{hashes[2], hashes[0]}, want: []string{PollAnswerID("Soup"), PollAnswerID("Pizza")}},
		{name: "vote taken back", selected: nil, want: []string{}},
		{name: "unknown hash left out", selected: [][]byte{[]byte("nope"), hashes[0]}, want: []string{PollAnswerID("Pizza")}},
		{name: "Matrix answer IDs", answerIDs: []string{"a", "b", "c"}, selected: [][]byte{hashes[1], hashes[2]}, want: []string{"b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := PollVoteToMatrix(poll, tt.answerIDs, "$poll", &waE2E.PollVoteMessage{SelectedOptions: tt.selected})
			if resp.RelatesTo.Type != event.RelReference || resp.RelatesTo.EventID != "$poll" {
				t.Errorf("relates to %+v", resp.RelatesTo)
			}
			if !slices.Equal(resp.Response.Answers, tt.want) || resp.Response.Answers == nil {
				t.Errorf("answers %v, want %v", resp.Response.Answers, tt.want)
			}
		})
	}
}

func mxPoll(question string, maxSelections int, answers ...string) *event.PollStartEventContent {
	content := &event.PollStartEventContent{PollStart: event.PollStart{
		Kind: pollKindDisclosed, MaxSelections: maxSelections, Question: event.MSC1767Message{Text: question},
	}}
	for i, text := range answers {
		content.PollStart.Answers = append(content.PollStart.Answers, event.PollOption{
			ID: string(rune('a' + i)), MSC1767Message: event.MSC1767Message{Text: text},
		})
	}
	return content
}

func TestPollFromMatrix(t *testing.T) {
	t.Parallel()
	tooMany := make([]string, MaxPollOptions+1)
	for i := range tooMany {
		tooMany[i] = string(rune('A' + i))
	}
	extensible := mxPoll("", 1, "Pizza", "Sushi")
	extensible.PollStart.Question = event.MSC1767Message{Message: []event.ExtensibleText{{MimeType: "text/plain", Body: "Lunch?"}}}
	tests := []struct {
		name       string
		content    *event.PollStartEventContent
		options    []string
		selectable int
		err        string
	}{
		{name: "single choice", content: mxPoll("Lunch?", 1, "Pizza", "Sushi"), options: []string{"Pizza", "Sushi"}, selectable: 1},
		{name: "no max counts as one", content: mxPoll("Lunch?", 0, "Pizza", "Sushi"), options: []string{"Pizza", "Sushi"}, selectable: 1},
		{name: "multiple choice", content: mxPoll("Lunch?", 2, "Pizza", "Sushi", "Soup"), options: []string{"Pizza", "Sushi", "Soup"}, selectable: 0},
		{name: "extensible question", content: extensible, options: []string{"Pizza", "Sushi"}, selectable: 1},
		{name: "no question", content: mxPoll(" ", 1, "Pizza", "Sushi"), err: "cannot send the poll to WhatsApp: it has no question"},
		{name: "one answer", content: mxPoll("Lunch?", 1, "Pizza"), err: "cannot send the poll to WhatsApp: it has 1 answers, WhatsApp polls have 2 to 12"},
		{name: "too many answers", content: mxPoll("Lunch?", 1, tooMany...), err: "cannot send the poll to WhatsApp: it has 13 answers, WhatsApp polls have 2 to 12"},
		{name: "empty answer", content: mxPoll("Lunch?", 1, "Pizza", ""), err: "cannot send the poll to WhatsApp: an answer has no text or no ID"},
		{name: "same answer twice", content: mxPoll("Lunch?", 1, "Pizza", "Pizza "), err: `cannot send the poll to WhatsApp: the answer "Pizza" appears twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			poll, err := PollFromMatrix(tt.content)
			if tt.err != "" {
				var perm PermanentError
				if !errors.As(err, &perm) || err.Error() != tt.err {
					t.Fatalf("err %v, want permanent %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if poll.Question != "Lunch?" || !slices.Equal(poll.Options, tt.options) || poll.Selectable != tt.selectable ||
				len(poll.AnswerIDs) != len(tt.options) || poll.AnswerIDs[0] != "a" {
				t.Errorf("poll %+v", poll)
			}
		})
	}
}

func TestPollVoteFromMatrix(t *testing.T) {
	t.Parallel()
	multi := waPoll("Lunch?", 0, "Pizza", "Sushi", "Soup")
	single := waPoll("Lunch?", 1, "Pizza", "Sushi", "Soup")
	ids := []string{"a", "b", "c"}
	tests := []struct {
		name      string
		poll      *waE2E.PollCreationMessage
		answerIDs []string
		answers   []string
		want      []string
		err       bool
	}{
		{name: "one answer", poll: multi, answerIDs: ids, answers: []string{"b"}, want: []string{"Sushi"}},
		{name: "two answers", poll: multi, answerIDs: ids, answers: []string{"c", "a"}, want: []string{"Soup", "Pizza"}},
		{name: "repeated answer", poll: multi, answerIDs: ids, answers: []string{"a", "a"}, want: []string{"Pizza"}},
		{name: "single choice takes the first", poll: single, answerIDs: ids, answers: []string{"c", "a"}, want: []string{"Soup"}},
		{name: "vote taken back", poll: multi, answerIDs: ids, answers: nil, want: []string{}},
		{name: "WhatsApp poll's own IDs", poll: multi, answers: []string{PollAnswerID("Soup")}, want: []string{"Soup"}},
		{name: "unknown answer", poll: multi, answerIDs: ids, answers: []string{"z"}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := PollVoteFromMatrix(tt.poll, tt.answerIDs, tt.answers)
			var perm PermanentError
			if tt.err != errors.As(err, &perm) {
				t.Fatalf("err %v, want error %v", err, tt.err)
			}
			if !tt.err && (!slices.Equal(got, tt.want) || got == nil) {
				t.Errorf("options %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPollRoundTrip: a Matrix poll sent to WhatsApp and a WhatsApp vote on it come back as the
// same question, answers and choice, and a Matrix vote reaches WhatsApp as the options chosen.
func TestPollRoundTrip(t *testing.T) {
	t.Parallel()
	content := mxPoll("Where?", 3, "Park", "Beach", "Museum")
	poll, err := PollFromMatrix(content)
	if err != nil {
		t.Fatal(err)
	}
	var cli whatsmeow.Client // BuildPollCreation uses no connection
	waMsg := cli.BuildPollCreation(poll.Question, poll.Options, poll.Selectable)
	back := convertPoll(PollCreation(waMsg))
	start, _ := sentContent(t, back)
	if start.PollStart.Question.Text != "Where?" || start.PollStart.MaxSelections != 3 || len(start.PollStart.Answers) != 3 {
		t.Fatalf("WhatsApp shows %+v", start.PollStart)
	}
	for i, answer := range start.PollStart.Answers {
		if answer.Text != content.PollStart.Answers[i].Text {
			t.Errorf("answer %d is %q, want %q", i, answer.Text, content.PollStart.Answers[i].Text)
		}
	}
	names, err := PollVoteFromMatrix(PollCreation(waMsg), poll.AnswerIDs, []string{"c", "a"})
	if err != nil {
		t.Fatal(err)
	}
	vote := &waE2E.PollVoteMessage{SelectedOptions: whatsmeow.HashPollOptions(names)}
	resp := PollVoteToMatrix(PollCreation(waMsg), poll.AnswerIDs, "$poll", vote)
	if !slices.Equal(resp.Response.Answers, []string{"c", "a"}) {
		t.Errorf("vote came back as %v, want [c a]", resp.Response.Answers)
	}
}
