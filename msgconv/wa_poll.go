package msgconv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Matrix polls follow MSC3381 with its unstable names, as Matrix clients send and show them.
const (
	// pollKindDisclosed is MSC3381's poll kind whose results are visible while it runs, the only
	// kind WhatsApp has.
	pollKindDisclosed = "org.matrix.msc3381.poll.disclosed"
	// pollStartKey and textKey are the content keys of an MSC3381 poll and its MSC1767 fallback.
	pollStartKey = "org.matrix.msc3381.poll.start"
	textKey      = "org.matrix.msc1767.text"
)

// PollCreation returns the poll of a WhatsApp poll creation message of any version WhatsApp's
// apps send (the original, V2, V3 for single choice, V5, V6), or nil when msg is not a poll.
func PollCreation(msg *waE2E.Message) *waE2E.PollCreationMessage {
	for _, poll := range []*waE2E.PollCreationMessage{
		msg.GetPollCreationMessage(), msg.GetPollCreationMessageV3(), msg.GetPollCreationMessageV2(),
		msg.GetPollCreationMessageV5(), msg.GetPollCreationMessageV6(),
	} {
		if poll != nil {
			return poll
		}
	}
	return nil
}

// PollOptionNames returns the names of a WhatsApp poll's options, in order.
func PollOptionNames(poll *waE2E.PollCreationMessage) []string {
	names := make([]string, len(poll.GetOptions()))
	for i, opt := range poll.GetOptions() {
		names[i] = opt.GetOptionName()
	}
	return names
}

// PollAnswerID is the Matrix answer ID the bridge gives an option of a WhatsApp poll: the hex
// SHA-256 of the option's name, which is also how a WhatsApp vote names the option.
func PollAnswerID(option string) string {
	sum := sha256.Sum256([]byte(option))
	return hex.EncodeToString(sum[:])
}

// pollMaxSelections is the Matrix max_selections of a WhatsApp poll: WhatsApp's
// SelectableOptionsCount, where 0 means any number of the options.
func pollMaxSelections(poll *waE2E.PollCreationMessage) int {
	count, options := int(poll.GetSelectableOptionsCount()), len(poll.GetOptions())
	if count == 0 || count > options {
		return options
	}
	return count
}

// pollFallback is the text of a poll for clients that do not show polls: the question, how many
// answers may be chosen, then the options numbered from 1.
func pollFallback(question string, options []string, maxSelections int) string {
	var sb strings.Builder
	sb.WriteString(question)
	if maxSelections > 1 {
		fmt.Fprintf(&sb, " (choose up to %d)", maxSelections)
	}
	for i, opt := range options {
		fmt.Fprintf(&sb, "\n%d. %s", i+1, opt)
	}
	return sb.String()
}

// convertPoll shows a WhatsApp poll as an MSC3381 poll start: the question and the options with
// their answer IDs (PollAnswerID), single or multiple choice as on WhatsApp, and the fallback
// text as body for clients without polls.
func convertPoll(poll *waE2E.PollCreationMessage) Part {
	options := PollOptionNames(poll)
	maxSelections := pollMaxSelections(poll)
	answers := make([]event.PollOption, len(options))
	answerIDs := make([]string, len(options))
	for i, name := range options {
		answerIDs[i] = PollAnswerID(name)
		answers[i] = event.PollOption{ID: answerIDs[i], MSC1767Message: event.MSC1767Message{Text: name}}
	}
	fallback := pollFallback(poll.GetName(), options, maxSelections)
	return Part{
		Type:    event.EventUnstablePollStart,
		Content: &event.MessageEventContent{Body: fallback},
		Extra: map[string]any{
			textKey: fallback,
			pollStartKey: event.PollStart{
				Kind: pollKindDisclosed, MaxSelections: maxSelections,
				Question: event.MSC1767Message{Text: poll.GetName()}, Answers: answers,
			},
		},
		PollAnswers: answerIDs,
	}
}

// PollVoteToMatrix builds the MSC3381 response of a WhatsApp vote on poll, whose Matrix event is
// pollEvent and whose options have the Matrix answer IDs answerIDs (in option order; nil for the
// IDs PollAnswerID gives). A WhatsApp vote carries the SHA-256 of each chosen option's name;
// hashes that match no option are left out. An empty selection (a vote taken back) gives an empty
// answer list, which Matrix clients count as no vote.
func PollVoteToMatrix(poll *waE2E.PollCreationMessage, answerIDs []string, pollEvent id.EventID, vote *waE2E.PollVoteMessage) *event.PollResponseEventContent {
	options := PollOptionNames(poll)
	byHash := make(map[string]string, len(options))
	for i, name := range options {
		answerID := PollAnswerID(name)
		if i < len(answerIDs) {
			answerID = answerIDs[i]
		}
		byHash[PollAnswerID(name)] = answerID
	}
	selected := []string{}
	for _, hash := range vote.GetSelectedOptions() {
		if answerID, ok := byHash[hex.EncodeToString(hash)]; ok {
			selected = append(selected, answerID)
		}
	}
	return &event.PollResponseEventContent{
		RelatesTo: event.RelatesTo{Type: event.RelReference, EventID: pollEvent},
		Response:  event.PollResponse{Answers: selected},
	}
}
