package msgconv

import (
	"errors"
	"slices"
	"testing"
)

func TestPollStartFromStable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		raw       string
		question  string
		answers   []string // text=ID pairs, flattened
		max       int
		permanent bool
	}{
		{name: "single choice", raw: `{"m.poll":{"kind":"m.disclosed","max_selections":1,
			"question":{"m.text":[{"body":"Lunch?"}]},
			"answers":[{"m.id":"a","m.text":[{"body":"Pizza"}]},{"m.id":"b","m.text":[{"mimetype":"text/html","body":"<b>Soup</b>"},{"body":"Soup"}]}]},
			"m.text":[{"body":"Lunch?\n1. Pizza\n2. Soup"}]}`,
			question: "Lunch?", answers: []string{"Pizza", "a", "Soup", "b"}, max: 1},
		{name: "no max selections means one", raw: `{"m.poll":{"question":{"m.text":[{"body":"Q"}]},"answers":[]}}`, question: "Q", max: 1},
		{name: "several", raw: `{"m.poll":{"max_selections":3,"question":{"m.text":[{"body":"Where?"}]},"answers":[{"m.id":"x","m.text":[{"body":"Park"}]}]}}`,
			question: "Where?", answers: []string{"Park", "x"}, max: 3},
		{name: "no m.poll", raw: `{"m.text":[{"body":"Lunch?"}]}`, permanent: true},
		{name: "not an object", raw: `["m.poll"]`, permanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			content, err := PollStartFromStable([]byte(tt.raw))
			var perm PermanentError
			if tt.permanent {
				if !errors.As(err, &perm) {
					t.Fatalf("err = %v, want a PermanentError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			start := content.PollStart
			var got []string
			for _, answer := range start.Answers {
				got = append(got, answer.GetText(), answer.ID)
			}
			if start.Question.GetText() != tt.question || !slices.Equal(got, tt.answers) || start.MaxSelections != tt.max {
				t.Errorf("poll = %q %v max %d, want %q %v max %d", start.Question.GetText(), got, start.MaxSelections, tt.question, tt.answers, tt.max)
			}
		})
	}
}

func TestPollResponseFromStable(t *testing.T) {
	t.Parallel()
	content, err := PollResponseFromStable([]byte(`{"m.relates_to":{"rel_type":"m.reference","event_id":"$poll"},"m.selections":["a","b"]}`))
	if err != nil || content.RelatesTo.EventID != "$poll" || !slices.Equal(content.Response.Answers, []string{"a", "b"}) {
		t.Fatalf("response = %+v, err %v", content, err)
	}
	content, err = PollResponseFromStable([]byte(`{"m.relates_to":{"rel_type":"m.reference","event_id":"$poll"}}`))
	if err != nil || content.Response.Answers == nil || len(content.Response.Answers) != 0 {
		t.Fatalf("response without selections = %+v, err %v; want an empty vote", content, err)
	}
	var perm PermanentError
	if _, err = PollResponseFromStable([]byte(`{"m.selections":["a"]}`)); !errors.As(err, &perm) {
		t.Fatalf("response without poll: err %v, want a PermanentError", err)
	}
}
