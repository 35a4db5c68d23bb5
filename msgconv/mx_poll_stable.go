package msgconv

import (
	"encoding/json"
	"errors"
	"fmt"

	"maunium.net/go/mautrix/event"
)

// MSC3381 polls exist in two spellings: the unstable org.matrix.msc3381.poll.* event types that
// Element and most clients send today (mautrix's event.EventUnstablePoll*), and the stable m.poll.*
// types of the MSC's final text, which newer clients send. The bridge reads both and sends the
// unstable ones, which every client with polls shows.

// The stable MSC3381 event types.
var (
	EventPollStart    = event.Type{Type: "m.poll.start", Class: event.MessageEventType}
	EventPollResponse = event.Type{Type: "m.poll.response", Class: event.MessageEventType}
	EventPollEnd      = event.Type{Type: "m.poll.end", Class: event.MessageEventType}
)

// stableText is an MSC1767 text block: representations of one text, plain first by convention.
type stableText []struct {
	Body     string `json:"body"`
	MimeType string `json:"mimetype,omitempty"`
}

// plain returns the plain-text representation (or, lacking one, the first).
func (t stableText) plain() string {
	for _, repr := range t {
		if repr.MimeType == "" || repr.MimeType == "text/plain" {
			return repr.Body
		}
	}
	if len(t) > 0 {
		return t[0].Body
	}
	return ""
}

type stablePollStart struct {
	RelatesTo *event.RelatesTo `json:"m.relates_to,omitempty"`
	Poll      *struct {
		Kind          string `json:"kind"`
		MaxSelections int    `json:"max_selections"`
		Question      struct {
			Text stableText `json:"m.text"`
		} `json:"question"`
		Answers []struct {
			ID   string     `json:"m.id"`
			Text stableText `json:"m.text"`
		} `json:"answers"`
	} `json:"m.poll"`
}

type stablePollResponse struct {
	RelatesTo  event.RelatesTo `json:"m.relates_to"`
	Selections []string        `json:"m.selections"`
}

// PollStartFromStable reads the content of a stable m.poll.start event as the unstable poll start
// the rest of the bridge handles (PollFromMatrix then checks it for WhatsApp). It fails with a
// PermanentError when the content is not JSON or has no m.poll.
func PollStartFromStable(raw json.RawMessage) (*event.PollStartEventContent, error) {
	var stable stablePollStart
	if err := json.Unmarshal(raw, &stable); err != nil {
		return nil, permanent(fmt.Errorf("the poll's content could not be read: %w", err))
	} else if stable.Poll == nil {
		return nil, permanent(errors.New("the poll has no m.poll content"))
	}
	content := &event.PollStartEventContent{RelatesTo: stable.RelatesTo, PollStart: event.PollStart{
		Kind: stable.Poll.Kind, MaxSelections: max(stable.Poll.MaxSelections, 1),
		Question: event.MSC1767Message{Text: stable.Poll.Question.Text.plain()},
	}}
	for _, answer := range stable.Poll.Answers {
		content.PollStart.Answers = append(content.PollStart.Answers, event.PollOption{
			ID: answer.ID, MSC1767Message: event.MSC1767Message{Text: answer.Text.plain()},
		})
	}
	return content, nil
}

// PollResponseFromStable reads the content of a stable m.poll.response event as the unstable poll
// response the rest of the bridge handles. It fails with a PermanentError when the content is not
// JSON or names no poll.
func PollResponseFromStable(raw json.RawMessage) (*event.PollResponseEventContent, error) {
	var stable stablePollResponse
	if err := json.Unmarshal(raw, &stable); err != nil {
		return nil, permanent(fmt.Errorf("the vote's content could not be read: %w", err))
	} else if stable.RelatesTo.EventID == "" {
		return nil, permanent(errors.New("the vote names no poll"))
	}
	content := &event.PollResponseEventContent{RelatesTo: stable.RelatesTo}
	content.Response.Answers = stable.Selections
	if content.Response.Answers == nil {
		content.Response.Answers = []string{}
	}
	return content, nil
}
