package bridge

import (
	"slices"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// Read receipts in the WhatsApp inbox.
//
// Only receipts that show in Matrix are stored (portal.ShowsReceipt: read receipts; delivery
// receipts never reach the inbox). A read receipt moves its reader's read marker to the last
// message it names that is in the room, and the reader's next read receipt moves it on, so when a
// portal's pending rows hold several read receipts of one reader (after an outage, a restart, or
// while the portal was busy) only the last is applied. It takes the message IDs of the earlier
// ones in front of its own, so the marker lands where applying them one by one would have left it
// even when its own messages are not in the room, and it keeps its own place in the portal's
// order, behind every message the earlier ones named. The earlier rows are settled in the same
// statement as the last one.

// waInboxItem is one pending WhatsApp inbox row to handle: the row, the event decoded from it (nil
// until handleWAInboxRow decodes it) and the seqs of the earlier rows it stands for.
type waInboxItem struct {
	row      *database.WhatsAppInboxEvent
	evt      any
	absorbed []int64
}

// receiptReader is whose read marker a read receipt moves, as seen by one login.
type receiptReader struct {
	user         id.UserID
	login        string
	chat, sender types.JID
	fromMe       bool
}

// coalesceReceipts turns a portal's pending rows, in seq order, into the items to handle: each
// reader's read receipts folded into the last of them. Rows that are not receipts, and receipts
// that do not decode, are handed on as they are.
func coalesceReceipts(rows []*database.WhatsAppInboxEvent) []waInboxItem {
	items := make([]waInboxItem, 0, len(rows))
	latest := make(map[receiptReader]int) // the reader's last receipt so far, an index into items
	for _, row := range rows {
		item := waInboxItem{row: row}
		if row.Kind != whatsapp.EventKindReceipt {
			items = append(items, item)
			continue
		}
		evt, err := row.Event, error(nil)
		if evt == nil {
			evt, err = whatsapp.DecodeEvent(row.Kind, row.Version, row.Payload)
		}
		receipt, ok := evt.(*events.Receipt)
		if err != nil || !ok {
			items = append(items, item)
			continue
		}
		item.evt = receipt
		reader := receiptReader{user: row.User, login: row.Login, chat: receipt.Chat.ToNonAD(),
			sender: receipt.Sender.ToNonAD(), fromMe: receipt.IsFromMe}
		if i, seen := latest[reader]; seen {
			earlier := items[i]
			merged := *receipt
			merged.MessageIDs = append(slices.Clone(earlier.evt.(*events.Receipt).MessageIDs), receipt.MessageIDs...)
			item.evt = &merged
			item.absorbed = append(earlier.absorbed, earlier.row.Seq)
			items[i].row = nil // absorbed: dropped below
		}
		latest[reader] = len(items)
		items = append(items, item)
	}
	return slices.DeleteFunc(items, func(item waInboxItem) bool { return item.row == nil })
}
