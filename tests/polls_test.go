package tests

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// pollVoteFrom matches sender's poll response on poll choosing exactly answers.
func pollVoteFrom(sender id.UserID, poll id.EventID, answers ...string) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		resp, ok := evt.Content.Parsed.(*event.PollResponseEventContent)
		return evt.Sender == sender && evt.Type == event.EventUnstablePollResponse && ok &&
			resp.RelatesTo.EventID == poll && slices.Equal(resp.Response.Answers, answers)
	}
}

// TestPolls: a WhatsApp poll shows as a Matrix poll with its options and choice, a Matrix poll
// reaches WhatsApp as a WhatsApp poll, and votes on either cross both ways (encrypted with the
// poll's secret on WhatsApp), including a vote taken back. Ending a poll from Matrix is refused
// with a notice, since WhatsApp polls have no end.
func TestPolls(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340031")
	erin, erinGhost := newContact(t, ctx, env, "4917600000031", "Erin")
	waitWA := func(what string, match func(*events.Message) bool) *events.Message {
		t.Helper()
		msg, err := erin.WaitMessage(ctx, match)
		if err != nil {
			t.Fatalf("WhatsApp never received %s: %v", what, err)
		}
		return msg
	}
	voteMX := func(dm id.RoomID, poll id.EventID, answers ...string) {
		t.Helper()
		_, err := alice.client.SendMessageEvent(ctx, dm, event.EventUnstablePollResponse, &event.PollResponseEventContent{
			RelatesTo: event.RelatesTo{Type: event.RelReference, EventID: poll}, Response: event.PollResponse{Answers: answers},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	expectVote := func(vote *events.Message, options []string, want ...string) {
		t.Helper()
		got, err := erin.PollVote(ctx, vote, options)
		if err != nil || !slices.Equal(got, append([]string{}, want...)) {
			t.Fatalf("WhatsApp vote chose %v (%v), want %v", got, err, want)
		}
	}

	// A single-choice WhatsApp poll.
	lunch := []string{"Pizza", "Sushi", "Soup"}
	lunchPoll, err := erin.SendPoll(ctx, alice.acct.JID(), "Lunch?", lunch, 1)
	if err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, erinGhost)
	startEvt := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Sender == erinGhost && evt.Type == event.EventUnstablePollStart
	})
	parsed, ok := startEvt.Content.Parsed.(*event.PollStartEventContent)
	if !ok {
		t.Fatalf("poll start content is %T", startEvt.Content.Parsed)
	}
	start := parsed.PollStart
	if start.Question.GetText() != "Lunch?" || start.MaxSelections != 1 || len(start.Answers) != 3 || start.Answers[1].GetText() != "Sushi" {
		t.Fatalf("Matrix shows poll %+v", start)
	}
	if startEvt.Content.Raw["org.matrix.msc1767.text"] != "Lunch?\n1. Pizza\n2. Sushi\n3. Soup" {
		t.Errorf("fallback text %q", startEvt.Content.Raw["org.matrix.msc1767.text"])
	}

	// Alice votes in Matrix; Erin votes on WhatsApp, changes the vote and takes it back.
	voteMX(dm, startEvt.ID, start.Answers[1].ID)
	vote := waitWA("Alice's vote", func(m *events.Message) bool { return m.Message.GetPollUpdateMessage() != nil })
	if vote.Message.GetPollUpdateMessage().GetPollCreationMessageKey().GetID() != lunchPoll.ID {
		t.Errorf("vote is on %v, want %s", vote.Message.GetPollUpdateMessage().GetPollCreationMessageKey(), lunchPoll.ID)
	}
	expectVote(vote, lunch, "Sushi")
	for _, choice := range [][]string{{"Pizza"}, {"Soup"}, nil} {
		if _, err = erin.Vote(ctx, lunchPoll, choice...); err != nil {
			t.Fatal(err)
		}
		answers := []string{}
		for _, c := range choice {
			answers = append(answers, start.Answers[slices.Index(lunch, c)].ID)
		}
		env.WaitForMessage(ctx, alice.client, dm, pollVoteFrom(erinGhost, startEvt.ID, answers...))
	}

	// A multiple-choice Matrix poll.
	where := []string{"Park", "Beach", "Museum"}
	content := &event.PollStartEventContent{PollStart: event.PollStart{
		Kind: "org.matrix.msc3381.poll.disclosed", MaxSelections: 3, Question: event.MSC1767Message{Text: "Where?"},
	}}
	for i, text := range where {
		content.PollStart.Answers = append(content.PollStart.Answers, event.PollOption{
			ID: "answer-" + string(rune('a'+i)), MSC1767Message: event.MSC1767Message{Text: text},
		})
	}
	resp, err := alice.client.SendMessageEvent(ctx, dm, event.EventUnstablePollStart, content)
	if err != nil {
		t.Fatal(err)
	}
	poll := waitWA("the Matrix poll", func(m *events.Message) bool { return wasim.MessageKind(m) == wasim.KindPoll })
	created := msgconv.PollCreation(poll.Message)
	if created.GetName() != "Where?" || !slices.Equal(msgconv.PollOptionNames(created), where) || created.GetSelectableOptionsCount() != 0 {
		t.Fatalf("WhatsApp received poll %v", poll.Message)
	}
	if _, err = erin.Vote(ctx, poll.Info, "Museum", "Park"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, pollVoteFrom(erinGhost, resp.EventID, "answer-c", "answer-a"))
	voteMX(dm, resp.EventID, "answer-b", "answer-c")
	ownVote := waitWA("Alice's vote on her poll", func(m *events.Message) bool {
		return m.Message.GetPollUpdateMessage().GetPollCreationMessageKey().GetID() == poll.Info.ID
	})
	expectVote(ownVote, where, "Beach", "Museum")

	// WhatsApp polls cannot be ended.
	if _, err = alice.client.SendMessageEvent(ctx, dm, event.EventUnstablePollEnd, map[string]any{
		"m.relates_to":            map[string]any{"rel_type": "m.reference", "event_id": resp.EventID},
		"org.matrix.msc1767.text": "The poll has ended.",
	}); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "WhatsApp polls cannot be ended"))
}

// TestGroupPoll: in a group, a member's poll shows as a Matrix poll and votes cross both ways.
func TestGroupPoll(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340032")
	carol, carolGhost := newContact(t, ctx, env, "4917600000032", "Carol")
	group, err := env.WA.CreateGroup(ctx, carol.Account(), "Lunch crew", alice.acct)
	if err != nil {
		t.Fatal(err)
	}
	room := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room)
	options := []string{"Pizza", "Sushi"}
	poll, err := carol.SendPoll(ctx, group, "Lunch?", options, 1)
	if err != nil {
		t.Fatal(err)
	}
	startEvt := env.WaitForMessage(ctx, alice.client, room, func(evt *event.Event) bool {
		return evt.Sender == carolGhost && evt.Type == event.EventUnstablePollStart
	})
	start := startEvt.Content.Parsed.(*event.PollStartEventContent).PollStart
	if _, err = alice.client.SendMessageEvent(ctx, room, event.EventUnstablePollResponse, &event.PollResponseEventContent{
		RelatesTo: event.RelatesTo{Type: event.RelReference, EventID: startEvt.ID}, Response: event.PollResponse{Answers: []string{start.Answers[1].ID}},
	}); err != nil {
		t.Fatal(err)
	}
	vote, err := carol.WaitMessage(ctx, func(m *events.Message) bool { return m.Message.GetPollUpdateMessage() != nil })
	if err != nil {
		t.Fatalf("Carol never received Alice's vote: %v", err)
	}
	if got, err := carol.PollVote(ctx, vote, options); err != nil || !slices.Equal(got, []string{"Sushi"}) {
		t.Fatalf("Alice's vote reads %v (%v)", got, err)
	}
	if _, err = carol.Vote(ctx, poll, "Pizza"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, room, pollVoteFrom(carolGhost, startEvt.ID, start.Answers[0].ID))

	// A poll in MSC3381's stable form (m.poll.start, as newer clients send) becomes a WhatsApp
	// poll, a stable m.poll.response a vote, and a stable m.poll.end gets the same notice.
	stable, err := alice.client.SendMessageEvent(ctx, room, event.Type{Type: "m.poll.start", Class: event.MessageEventType}, map[string]any{
		"m.poll": map[string]any{
			"kind": "m.disclosed", "max_selections": 1,
			"question": map[string]any{"m.text": []map[string]any{{"body": "Dessert?"}}},
			"answers": []map[string]any{
				{"m.id": "ice", "m.text": []map[string]any{{"body": "Ice cream"}}},
				{"m.id": "cake", "m.text": []map[string]any{{"body": "Cake"}}},
			},
		},
		"m.text": []map[string]any{{"body": "Dessert?\n1. Ice cream\n2. Cake"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	dessert, err := carol.WaitMessage(ctx, func(m *events.Message) bool {
		return wasim.MessageKind(m) == wasim.KindPoll && msgconv.PollCreation(m.Message).GetName() == "Dessert?"
	})
	if err != nil {
		t.Fatalf("Carol never received the stable poll: %v", err)
	}
	if created := msgconv.PollCreation(dessert.Message); !slices.Equal(msgconv.PollOptionNames(created), []string{"Ice cream", "Cake"}) || created.GetSelectableOptionsCount() != 1 {
		t.Fatalf("stable poll reached WhatsApp as %v", dessert.Message)
	}
	if _, err = alice.client.SendMessageEvent(ctx, room, event.Type{Type: "m.poll.response", Class: event.MessageEventType}, map[string]any{
		"m.relates_to": map[string]any{"rel_type": "m.reference", "event_id": stable.EventID},
		"m.selections": []string{"cake"},
	}); err != nil {
		t.Fatal(err)
	}
	cakeVote, err := carol.WaitMessage(ctx, func(m *events.Message) bool {
		return m.Message.GetPollUpdateMessage().GetPollCreationMessageKey().GetID() == dessert.Info.ID
	})
	if err != nil {
		t.Fatalf("Carol never received the stable vote: %v", err)
	}
	if got, err := carol.PollVote(ctx, cakeVote, []string{"Ice cream", "Cake"}); err != nil || !slices.Equal(got, []string{"Cake"}) {
		t.Fatalf("stable vote reads %v (%v)", got, err)
	}
	if _, err = alice.client.SendMessageEvent(ctx, room, event.Type{Type: "m.poll.end", Class: event.MessageEventType}, map[string]any{
		"m.relates_to": map[string]any{"rel_type": "m.reference", "event_id": stable.EventID},
		"m.text":       []map[string]any{{"body": "The poll has ended."}},
	}); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "WhatsApp polls cannot be ended"))
}
