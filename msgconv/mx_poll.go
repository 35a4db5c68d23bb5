package msgconv

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"maunium.net/go/mautrix/event"
)

// MaxPollOptions is the most options a WhatsApp poll may have, as WhatsApp's apps allow.
const MaxPollOptions = 12

// MatrixPoll is a Matrix poll (MSC3381 poll start) read for WhatsApp.
type MatrixPoll struct {
	// Question is the poll's question, as plain text.
	Question string
	// Options are the answers' texts, in the poll's order.
	Options []string
	// Selectable is how many options a voter may choose, as WhatsApp counts: 1 for a single
	// choice, 0 for any number.
	Selectable int
	// AnswerIDs are the Matrix answer IDs of Options, in the same order.
	AnswerIDs []string
}

// PollFromMatrix reads a Matrix poll start for WhatsApp. A poll with max_selections above 1 becomes
// a WhatsApp poll where any number of options may be chosen, since WhatsApp's apps offer only one
// or any. It fails with a PermanentError when WhatsApp cannot show the poll: no question, fewer
// than 2 or more than MaxPollOptions answers, an answer without text or without ID, or two answers
// with the same text or ID (WhatsApp tells options apart by their text).
func PollFromMatrix(content *event.PollStartEventContent) (*MatrixPoll, error) {
	start := content.PollStart
	poll := &MatrixPoll{Question: strings.TrimSpace(start.Question.GetText()), Selectable: 1}
	if poll.Question == "" {
		return nil, permanent(errors.New("cannot send the poll to WhatsApp: it has no question"))
	}
	if n := len(start.Answers); n < 2 || n > MaxPollOptions {
		return nil, permanent(fmt.Errorf("cannot send the poll to WhatsApp: it has %d answers, WhatsApp polls have 2 to %d", n, MaxPollOptions))
	}
	if start.MaxSelections > 1 {
		poll.Selectable = 0
	}
	seenText, seenID := map[string]bool{}, map[string]bool{}
	for _, answer := range start.Answers {
		text := strings.TrimSpace(answer.GetText())
		switch {
		case text == "" || answer.ID == "":
			return nil, permanent(errors.New("cannot send the poll to WhatsApp: an answer has no text or no ID"))
		case seenText[text]:
			return nil, permanent(fmt.Errorf("cannot send the poll to WhatsApp: the answer %q appears twice", text))
		case seenID[answer.ID]:
			return nil, permanent(fmt.Errorf("cannot send the poll to WhatsApp: the answer ID %q appears twice", answer.ID))
		}
		seenText[text], seenID[answer.ID] = true, true
		poll.Options = append(poll.Options, text)
		poll.AnswerIDs = append(poll.AnswerIDs, answer.ID)
	}
	return poll, nil
}

// PollVoteFromMatrix maps the answers of a Matrix poll response to the names of the chosen options
// of poll, the WhatsApp poll it responds to, whose options have the Matrix answer IDs answerIDs (in
// option order; nil for the IDs PollAnswerID gives). As MSC3381 says, a single-choice poll counts
// only the first answer; repeated answers count once; an empty list takes the vote back (an empty
// result). An answer the poll does not have fails with a PermanentError.
func PollVoteFromMatrix(poll *waE2E.PollCreationMessage, answerIDs []string, answers []string) ([]string, error) {
	options := PollOptionNames(poll)
	byID := make(map[string]string, len(options))
	for i, name := range options {
		answerID := PollAnswerID(name)
		if i < len(answerIDs) {
			answerID = answerIDs[i]
		}
		byID[answerID] = name
	}
	limit := pollMaxSelections(poll)
	chosen := []string{}
	for _, answer := range answers {
		name, ok := byID[answer]
		if !ok {
			return nil, permanent(fmt.Errorf("the vote names an answer (%q) the WhatsApp poll does not have", answer))
		}
		if !slices.Contains(chosen, name) && len(chosen) < limit {
			chosen = append(chosen, name)
		}
	}
	return chosen, nil
}
