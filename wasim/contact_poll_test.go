package wasim

import (
	"slices"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// TestContactPolls: a contact's poll reaches the other contact with its options, and votes on it
// from both (a vote, a changed vote, a vote taken back) decrypt to the options chosen.
func TestContactPolls(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	ann := newContact(t, ctx, srv, "Ann")
	ben := newContact(t, ctx, srv, "Ben")
	options := []string{"Pizza", "Sushi", "Soup"}
	own, err := ann.SendPoll(ctx, ben.JID(), "Lunch?", options, 0)
	if err != nil {
		t.Fatal(err)
	}
	poll, err := ben.WaitMessage(ctx, func(m *events.Message) bool { return m.Info.ID == own.ID })
	if err != nil {
		t.Fatal(err)
	}
	if MessageKind(poll) != KindPoll || MessageBody(poll) != "Lunch?" || poll.Message.GetPollCreationMessage().GetSelectableOptionsCount() != 0 {
		t.Fatalf("Ben received %v", poll.Message)
	}
	votes := []struct {
		from, to *Contact
		info     types.MessageInfo
		options  []string
	}{
		{ben, ann, poll.Info, []string{"Sushi"}},
		{ben, ann, poll.Info, []string{"Soup", "Pizza"}},
		{ben, ann, poll.Info, nil},
		{ann, ben, own, []string{"Pizza"}},
	}
	for _, v := range votes {
		voteID, err := v.from.Vote(ctx, v.info, v.options...)
		if err != nil {
			t.Fatalf("vote %v: %v", v.options, err)
		}
		got, err := v.to.WaitMessage(ctx, func(m *events.Message) bool { return m.Info.ID == voteID })
		if err != nil {
			t.Fatal(err)
		}
		chosen, err := v.to.PollVote(ctx, got, options)
		if err != nil || !slices.Equal(chosen, append([]string{}, v.options...)) {
			t.Errorf("vote %v decrypted as %v (%v)", v.options, chosen, err)
		}
	}
}
