package wasim

import (
	"context"
	"encoding/hex"
	"fmt"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// SendPoll sends a poll the way WhatsApp's apps do (whatsmeow's BuildPollCreation: a fresh message
// secret that encrypts the votes). selectable is how many options a voter may choose: 1 for a
// single choice, 0 for any number. It returns the poll's message info as the contact's own votes on
// it need it (see Vote).
func (c *Contact) SendPoll(ctx context.Context, to types.JID, question string, options []string, selectable int) (types.MessageInfo, error) {
	resp, err := sendMessage(ctx, c.cli, to, c.cli.BuildPollCreation(question, options, selectable))
	if err != nil {
		return types.MessageInfo{}, err
	}
	return types.MessageInfo{ID: resp.ID, Timestamp: resp.Timestamp, MessageSource: types.MessageSource{
		Chat: to, Sender: resp.Sender, IsFromMe: true, IsGroup: to.Server == types.GroupServer,
	}}, nil
}

// Vote votes on a poll, choosing the named options; no options takes the vote back. poll is the
// poll's message info: a received poll's Info, or what SendPoll returned for the contact's own. The vote is encrypted with the poll's secret.
func (c *Contact) Vote(ctx context.Context, poll types.MessageInfo, options ...string) (types.MessageID, error) {
	vote, err := c.cli.BuildPollVote(ctx, &poll, options)
	if err != nil {
		return "", err
	}
	return c.Send(ctx, poll.Chat, vote)
}

// PollVote decrypts a received vote and returns the chosen options, in the vote's order, from the
// poll's options. It fails when the vote cannot be decrypted or names an option not in options.
func (c *Contact) PollVote(ctx context.Context, vote *events.Message, options []string) ([]string, error) {
	decrypted, err := c.cli.DecryptPollVote(ctx, vote)
	if err != nil {
		return nil, err
	}
	byHash := map[string]string{}
	for i, hash := range whatsmeow.HashPollOptions(options) {
		byHash[hex.EncodeToString(hash)] = options[i]
	}
	names := []string{}
	for _, hash := range decrypted.GetSelectedOptions() {
		name, ok := byHash[hex.EncodeToString(hash)]
		if !ok {
			return nil, fmt.Errorf("vote names option hash %x, which the poll does not have", hash)
		}
		names = append(names, name)
	}
	return names, nil
}
