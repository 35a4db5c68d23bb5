package bridge

import (
	"slices"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// TestCoalesceReceipts: of one reader's pending read receipts only the last is applied, at its own
// place behind the messages, carrying the earlier ones' message IDs first and standing for their
// rows; other readers' receipts and other rows are handed on as they are.
func TestCoalesceReceipts(t *testing.T) {
	chat := types.NewJID("120363000000000001", types.GroupServer)
	fay := types.NewJID("4917600000002", types.DefaultUserServer)
	gus := types.NewJID("4917600000003", types.DefaultUserServer)
	seq := int64(0)
	row := func(evt any, waID string) *database.WhatsAppInboxEvent {
		t.Helper()
		kind, version, payload, err := whatsapp.EncodeEvent(evt)
		if err != nil {
			t.Fatal(err)
		}
		seq++
		return &database.WhatsAppInboxEvent{Seq: seq, User: "@alice:example.org", Kind: kind, Version: version, WAID: waID, Payload: payload}
	}
	read := func(reader types.JID, ids ...types.MessageID) *database.WhatsAppInboxEvent {
		return row(&events.Receipt{MessageSource: types.MessageSource{Chat: chat, Sender: reader, IsGroup: true},
			MessageIDs: ids, Type: types.ReceiptTypeRead}, ids[0])
	}
	message := func(id string) *database.WhatsAppInboxEvent {
		return row(&events.Message{Info: types.MessageInfo{ID: id, MessageSource: types.MessageSource{Chat: chat, Sender: gus}}}, id)
	}
	rows := []*database.WhatsAppInboxEvent{
		read(fay, "A"),      // 1: folded into 6
		message("B"),        // 2
		read(gus, "A", "B"), // 3: gus's only receipt
		read(fay, "B"),      // 4: folded into 6
		message("C"),        // 5
		read(fay, "C"),      // 6
	}
	items := coalesceReceipts(rows)
	var seqs []int64
	for _, item := range items {
		seqs = append(seqs, item.row.Seq)
	}
	if !slices.Equal(seqs, []int64{2, 3, 5, 6}) {
		t.Fatalf("items are rows %v, want [2 3 5 6]", seqs)
	}
	last := items[3]
	receipt, ok := last.evt.(*events.Receipt)
	if !ok || !slices.Equal(receipt.MessageIDs, []types.MessageID{"A", "B", "C"}) || receipt.Sender != fay {
		t.Fatalf("fay's receipt is %+v, want messages [A B C]", last.evt)
	}
	if !slices.Equal(last.absorbed, []int64{1, 4}) {
		t.Fatalf("fay's receipt stands for rows %v, want [1 4]", last.absorbed)
	}
	if gusReceipt := items[1].evt.(*events.Receipt); len(items[1].absorbed) != 0 || !slices.Equal(gusReceipt.MessageIDs, []types.MessageID{"A", "B"}) {
		t.Fatalf("gus's receipt is %+v standing for %v", gusReceipt, items[1].absorbed)
	}
	if items[0].evt != nil || items[2].evt != nil {
		t.Fatal("messages were decoded before they are handled")
	}
	// The stored rows are not changed: a retry after a restart folds them again.
	if again := coalesceReceipts(rows); len(again) != 4 || len(again[3].evt.(*events.Receipt).MessageIDs) != 3 {
		t.Fatalf("coalescing the same rows again gave %d items", len(again))
	}
}
