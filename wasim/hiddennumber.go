package wasim

import (
	"context"
	"fmt"
	"strconv"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waLidMigrationSyncPayload"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// Number privacy. Real WhatsApp hides the phone number of username contacts, of non-contacts in
// large groups and communities: what others receive then names the account by its LID only. An
// account with a hidden number here:
//   - sends direct messages from its LID, without sender_pn (whatsmeow parseMessageSource then
//     leaves MessageSource.SenderAlt empty);
//   - appears in group messages with participant (a LID) but no participant_pn;
//   - appears in group info and group notifications without phone_number, creator_pn, s_o_pn or
//     participant_pn (whatsmeow parseGroupNode then leaves GroupParticipant.PhoneNumber empty).
//
// RevealPhoneNumber later lets one account see the number: from then on its devices get the
// sender_pn/participant_pn of that account's messages again, and its phone sends its companions a
// LID_MIGRATION_MAPPING_SYNC peer message carrying the LID<->phone mapping (whatsmeow
// storeLIDSyncMessage stores it), as real phones do when they learn a mapping. Group info and
// notifications, which go to every member alike, keep the number hidden.

// numberPrivacy is an account's number privacy. Guarded by srv.stateLock.
type numberPrivacy struct {
	hidden     bool
	revealedTo map[*Account]bool
}

// SetPhoneNumberHidden hides (or shows again) the account's phone number from other accounts.
func (a *Account) SetPhoneNumberHidden(hidden bool) {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	a.numbers.hidden = hidden
}

// PhoneNumberHidden reports whether the account hides its phone number.
func (a *Account) PhoneNumberHidden() bool {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	return a.numbers.hidden
}

// pnSeenByLocked is the phone JID of a as viewer sees it: empty when a hides its number from viewer.
// viewer nil stands for stanzas that go to several accounts alike. Caller holds stateLock.
func (a *Account) pnSeenByLocked(viewer *Account) types.JID {
	if !a.numbers.hidden || viewer == a || (viewer != nil && a.numbers.revealedTo[viewer]) {
		return a.pn
	}
	return types.EmptyJID
}

// setPNAttr sets attrs[key] to a's phone JID as viewer sees it, or leaves it out when hidden.
// Caller holds stateLock.
func (a *Account) setPNAttr(attrs waBinary.Attrs, key string, viewer *Account) {
	if pn := a.pnSeenByLocked(viewer); !pn.IsEmpty() {
		attrs[key] = pn
	}
}

// RevealPhoneNumber lets viewer see a's phone number from now on, and has viewer's phone send each
// of viewer's linked companions the LID<->phone mapping of a in a LID_MIGRATION_MAPPING_SYNC peer
// message. It returns once the server accepted those messages; an offline companion gets its copy
// when it connects. It fails if viewer's phone is offline.
func (a *Account) RevealPhoneNumber(ctx context.Context, viewer *Account) error {
	if viewer == a {
		return fmt.Errorf("an account always knows its own number")
	}
	a.srv.stateLock.Lock()
	if a.numbers.revealedTo == nil {
		a.numbers.revealedTo = make(map[*Account]bool)
	}
	a.numbers.revealedTo[viewer] = true
	companions := make([]uint16, 0, len(viewer.devices))
	for _, id := range viewer.sortedDeviceIDs() {
		if id != 0 {
			companions = append(companions, id)
		}
	}
	a.srv.stateLock.Unlock()
	msg, err := lidMappingSyncMessage(map[types.JID]types.JID{a.pn: a.lid})
	if err != nil {
		return err
	}
	for _, id := range companions {
		if _, err := viewer.SendPeer(ctx, id, msg); err != nil {
			return fmt.Errorf("failed to send LID mapping to companion %d: %w", id, err)
		}
	}
	return nil
}

// lidMappingSyncMessage builds the phone's LID_MIGRATION_MAPPING_SYNC protocol message for the given
// phone JID -> LID pairs (user parts as numbers, as the payload encodes them).
func lidMappingSyncMessage(pairs map[types.JID]types.JID) (*waE2E.Message, error) {
	payload := &waLidMigrationSyncPayload.LIDMigrationMappingSyncPayload{
		ChatDbMigrationTimestamp: proto.Uint64(uint64(time.Now().Unix())),
	}
	for pn, lid := range pairs {
		pnNum, err := strconv.ParseUint(pn.User, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("phone JID %s is not a number: %w", pn, err)
		}
		lidNum, err := strconv.ParseUint(lid.User, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("LID %s is not a number: %w", lid, err)
		}
		payload.PnToLidMappings = append(payload.PnToLidMappings, &waLidMigrationSyncPayload.LIDMigrationMapping{
			Pn: proto.Uint64(pnNum), AssignedLid: proto.Uint64(lidNum),
		})
	}
	encoded, err := proto.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("failed to encode LID mapping payload: %w", err)
	}
	return &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
		Type:                           waE2E.ProtocolMessage_LID_MIGRATION_MAPPING_SYNC.Enum(),
		LidMigrationMappingSyncMessage: &waE2E.LIDMigrationMappingSyncMessage{EncodedMappingPayload: encoded},
	}}, nil
}
