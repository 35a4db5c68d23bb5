package whatsapp_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waVnameCert"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

func roundTrip(t *testing.T, evt any, wantKind string) any {
	t.Helper()
	kind, version, payload, err := whatsapp.EncodeEvent(evt)
	if err != nil {
		t.Fatalf("EncodeEvent(%T) failed: %v", evt, err)
	}
	if kind != wantKind || version != whatsapp.EventCodecVersion {
		t.Fatalf("EncodeEvent(%T) gave kind %q version %d, want %q version %d", evt, kind, version, wantKind, whatsapp.EventCodecVersion)
	}
	out, err := whatsapp.DecodeEvent(kind, version, payload)
	if err != nil {
		t.Fatalf("DecodeEvent(%s) failed: %v\npayload: %s", kind, err, payload)
	}
	return out
}

func sampleInfo() types.MessageInfo {
	return types.MessageInfo{
		MessageSource: types.MessageSource{
			Chat:      types.NewJID("120363000000000001", types.GroupServer),
			Sender:    types.NewADJID("123456789", 0, 3).ToNonAD(),
			SenderAlt: types.NewJID("4917600000002", types.DefaultUserServer),
			IsGroup:   true, AddressingMode: types.AddressingModeLID,
		},
		ID: "3EB0ABCDEF", PushName: "Carol", Type: "text",
		Timestamp: time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC), Edit: types.EditAttributeMessageEdit,
		VerifiedName: &types.VerifiedName{
			Certificate: &waVnameCert.VerifiedNameCertificate{Details: []byte("details"), Signature: []byte("sig")},
			Details:     &waVnameCert.VerifiedNameCertificate_Details{VerifiedName: proto.String("Carol's Shop")},
		},
	}
}

// TestEventCodecMessage: a message survives storage with its info, its protobuf content, the raw
// message and the unwrapping flags.
func TestEventCodecMessage(t *testing.T) {
	in := &events.Message{
		Info:       sampleInfo(),
		Message:    &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("hello *world*")}},
		RawMessage: &waE2E.Message{ViewOnceMessage: &waE2E.FutureProofMessage{Message: &waE2E.Message{Conversation: proto.String("x")}}},
		IsViewOnce: true, IsEphemeral: true, RetryCount: 2,
	}
	out := roundTrip(t, in, whatsapp.EventKindMessage).(*events.Message)
	if !proto.Equal(out.Message, in.Message) || !proto.Equal(out.RawMessage, in.RawMessage) {
		t.Errorf("message content changed: %v / %v", out.Message, out.RawMessage)
	}
	if !out.IsViewOnce || !out.IsEphemeral || out.RetryCount != 2 || out.SourceWebMsg != nil {
		t.Errorf("flags changed: %+v", out)
	}
	if out.Info.VerifiedName == nil || !proto.Equal(out.Info.VerifiedName.Certificate, in.Info.VerifiedName.Certificate) ||
		out.Info.VerifiedName.Details.GetVerifiedName() != "Carol's Shop" {
		t.Errorf("verified name changed: %+v", out.Info.VerifiedName)
	}
	outInfo, inInfo := out.Info, in.Info
	outInfo.VerifiedName, inInfo.VerifiedName = nil, nil
	if !reflect.DeepEqual(outInfo, inInfo) {
		t.Errorf("info changed:\n got %+v\nwant %+v", outInfo, inInfo)
	}

	// A message without wrappers has one protobuf as Message and RawMessage (whatsmeow's
	// UnwrapRaw): it is stored once and comes back the same way.
	text := &waE2E.Message{Conversation: proto.String(strings.Repeat("plain text ", 20))}
	plain := &events.Message{Info: sampleInfo(), Message: text, RawMessage: text}
	_, _, plainPayload, err := whatsapp.EncodeEvent(plain)
	if err != nil {
		t.Fatal(err)
	}
	twice := &events.Message{Info: sampleInfo(), Message: text, RawMessage: proto.Clone(text).(*waE2E.Message)}
	if _, _, twicePayload, err := whatsapp.EncodeEvent(twice); err != nil || len(plainPayload) >= len(twicePayload) {
		t.Errorf("a message without wrappers takes %d bytes, as much as with a separate raw message (%d, %v)", len(plainPayload), len(twicePayload), err)
	}
	back := roundTrip(t, plain, whatsapp.EventKindMessage).(*events.Message)
	if !proto.Equal(back.Message, text) || back.RawMessage != back.Message {
		t.Errorf("a message without wrappers came back as %v / %v", back.Message, back.RawMessage)
	}

	// A message with no content stays without content.
	empty := roundTrip(t, &events.Message{Info: sampleInfo()}, whatsapp.EventKindMessage).(*events.Message)
	if empty.Message != nil || empty.RawMessage != nil {
		t.Errorf("a message without content came back with %v", empty.Message)
	}
}

// TestEventCodecOthers: undecryptable messages, receipts, group changes and joins survive storage.
func TestEventCodecOthers(t *testing.T) {
	undecryptable := &events.UndecryptableMessage{Info: sampleInfo(), IsUnavailable: true, UnavailableType: events.UnavailableTypeViewOnce}
	gotU := roundTrip(t, undecryptable, whatsapp.EventKindUndecryptable).(*events.UndecryptableMessage)
	if !gotU.IsUnavailable || gotU.UnavailableType != events.UnavailableTypeViewOnce || gotU.Info.ID != undecryptable.Info.ID || !gotU.Info.Timestamp.Equal(undecryptable.Info.Timestamp) {
		t.Errorf("undecryptable message changed: %+v", gotU)
	}

	receipt := &events.Receipt{
		MessageSource: types.MessageSource{Chat: types.NewJID("4917600000002", types.DefaultUserServer), Sender: types.NewADJID("4917600000002", 0, 0)},
		MessageIDs:    []types.MessageID{"A", "B"}, Timestamp: time.Date(2026, 11, 30, 4, 1, 0, 0, time.UTC), Type: types.ReceiptTypeRead,
	}
	if got := roundTrip(t, receipt, whatsapp.EventKindReceipt); !reflect.DeepEqual(got, receipt) {
		t.Errorf("receipt changed:\n got %+v\nwant %+v", got, receipt)
	}

	sender := types.NewJID("123456789", types.HiddenUserServer)
	info := &events.GroupInfo{
		JID: types.NewJID("120363000000000001", types.GroupServer), Sender: &sender, Timestamp: time.Date(2026, 11, 30, 4, 2, 0, 0, time.UTC),
		Name: &types.GroupName{Name: "Hikers", NameSetBy: sender}, Join: []types.JID{sender},
	}
	if got := roundTrip(t, info, whatsapp.EventKindGroupInfo); !reflect.DeepEqual(got, info) {
		t.Errorf("group info changed:\n got %+v\nwant %+v", got, info)
	}

	joined := &events.JoinedGroup{Reason: "invite", GroupInfo: types.GroupInfo{JID: info.JID, GroupName: types.GroupName{Name: "Hikers"}}}
	if got := roundTrip(t, joined, whatsapp.EventKindJoinedGroup).(*events.JoinedGroup); got.Reason != "invite" || got.JID != info.JID || got.Name != "Hikers" {
		t.Errorf("joined group changed: %+v", got)
	}
}

// TestEventCodecRefusesUnknownForms: an unknown kind or version and a broken payload are errors.
func TestEventCodecRefusesUnknownForms(t *testing.T) {
	if _, _, _, err := whatsapp.EncodeEvent(&events.Presence{}); !errors.Is(err, whatsapp.ErrUnknownEventForm) {
		t.Errorf("EncodeEvent(presence) = %v, want ErrUnknownEventForm", err)
	}
	if _, err := whatsapp.DecodeEvent(whatsapp.EventKindMessage, whatsapp.EventCodecVersion+1, []byte(`{}`)); !errors.Is(err, whatsapp.ErrUnknownEventForm) {
		t.Errorf("DecodeEvent of a future version = %v, want ErrUnknownEventForm", err)
	}
	if _, err := whatsapp.DecodeEvent("presence", whatsapp.EventCodecVersion, []byte(`{}`)); !errors.Is(err, whatsapp.ErrUnknownEventForm) {
		t.Errorf("DecodeEvent of an unknown kind = %v, want ErrUnknownEventForm", err)
	}
	if _, err := whatsapp.DecodeEvent(whatsapp.EventKindMessage, whatsapp.EventCodecVersion, []byte(`{"message":"not base64!"}`)); err == nil {
		t.Error("DecodeEvent of a broken payload succeeded")
	}
}
