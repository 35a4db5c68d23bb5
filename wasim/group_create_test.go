package wasim

import (
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
)

// TestGroupCreateUnknownParticipant: creating a group with a number that has no WhatsApp account
// creates it without that number, and the answer lists the number with error 404, as WhatsApp
// does; adding the number later is answered the same way, per participant.
func TestGroupCreateUnknownParticipant(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	ann := newContact(t, ctx, srv, "Ann")
	ben := newContact(t, ctx, srv, "Ben")
	nobody := types.NewJID("4917699999999", types.DefaultUserServer)
	info, err := ann.Client().CreateGroup(ctx, whatsmeow.ReqCreateGroup{Name: "Some", Participants: []types.JID{ben.JID(), nobody}})
	if err != nil {
		t.Fatal(err)
	}
	errs := map[string]int{}
	for _, p := range info.Participants {
		errs[p.JID.User] = p.Error
	}
	if code, ok := errs[nobody.User]; !ok || code != 404 {
		t.Errorf("the unknown number in the answer: listed %v, error %d; want listed with 404 (%+v)", ok, code, info.Participants)
	}
	if code, ok := errs[ben.LID().User]; !ok || code != 0 {
		t.Errorf("Ben in the answer: listed %v, error %d (%+v)", ok, code, info.Participants)
	}
	waitJoined(t, ctx, "Ben", ben.EventLog, info.JID)
	got, err := ben.Client().GetGroupInfo(ctx, info.JID)
	if err != nil || len(got.Participants) != 2 {
		t.Fatalf("the group has %d members, want Ann and Ben (%v)", len(got.Participants), err)
	}
	res, err := ann.Client().UpdateGroupParticipants(ctx, info.JID, []types.JID{nobody}, whatsmeow.ParticipantChangeAdd)
	if err != nil || len(res) != 1 || res[0].Error != 404 {
		t.Fatalf("add of the unknown number: %+v, %v; want one participant with error 404", res, err)
	}
}
