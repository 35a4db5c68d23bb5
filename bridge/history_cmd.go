package bridge

import (
	"context"
	"strconv"
	"sync"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// defaultSyncHistoryCount is how many earlier messages `sync-history` asks for without a number,
// the count whatsmeow recommends per request; maxSyncHistoryCount bounds the number.
const (
	defaultSyncHistoryCount = 50
	maxSyncHistoryCount     = 500
)

// historyRequests are the chats whose earlier history a user asked for, with the room to answer in.
type historyRequests struct {
	lock  sync.Mutex
	rooms map[types.JID]id.RoomID
}

func (r *historyRequests) add(chat types.JID, room id.RoomID) {
	r.lock.Lock()
	defer r.lock.Unlock()
	if r.rooms == nil {
		r.rooms = map[types.JID]id.RoomID{}
	}
	r.rooms[chat.ToNonAD()] = room
}

func (r *historyRequests) take(chat types.JID) id.RoomID {
	r.lock.Lock()
	defer r.lock.Unlock()
	room := r.rooms[chat.ToNonAD()]
	delete(r.rooms, chat.ToNonAD())
	return room
}

// cmdSyncHistory asks the phone for the messages before the oldest one of the portal's room
// (whatsmeow BuildHistorySyncRequest, a peer message to the phone); the answer comes as an
// ON_DEMAND history sync (handleEarlierHistory).
func cmdSyncHistory(ctx context.Context, ce *commandEvent) {
	if ce.isManagement {
		ce.reply(ctx, "Send `%ssync-history` in the room of the chat whose earlier messages you want.", ce.br.Config.Bridge.CommandPrefix+" ")
		return
	}
	count := defaultSyncHistoryCount
	if len(ce.args) > 1 {
		ce.reply(ctx, "Usage: `%ssync-history [count]`, e.g. `%ssync-history 100` (one number, 1 to %d; default %d).",
			ce.prefix(), ce.prefix(), maxSyncHistoryCount, defaultSyncHistoryCount)
		return
	}
	if len(ce.args) > 0 {
		n, err := strconv.Atoi(ce.args[0])
		if err != nil || n < 1 || n > maxSyncHistoryCount {
			ce.reply(ctx, "The count must be a number from 1 to %d.", maxSyncHistoryCount)
			return
		}
		count = n
	}
	cli := ce.user.wa.ConnectedClient()
	if cli == nil {
		ce.reply(ctx, "You are not connected to WhatsApp right now; try again when `status` says you are.")
		return
	}
	chat, oldest, err := ce.br.portals.OldestMessage(ctx, ce.roomID)
	if err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to find the oldest message of a portal")
		ce.reply(ctx, "Could not look up this chat's messages; see the bridge log.")
		return
	} else if chat.IsEmpty() {
		ce.reply(ctx, "This room is not a WhatsApp chat.")
		return
	} else if oldest == nil {
		ce.reply(ctx, "This room has no WhatsApp messages yet to ask for earlier ones.")
		return
	}
	own := ce.user.WAJID().ToNonAD()
	anchor := &types.MessageInfo{
		MessageSource: types.MessageSource{Chat: chat, IsFromMe: oldest.Sender.User == own.User, IsGroup: chat.Server == types.GroupServer},
		ID:            oldest.WAID, Timestamp: oldest.Timestamp,
	}
	ce.user.historyRequests.add(chat, ce.roomID)
	if _, err = (whatsapp.LeaseEndingClient{Client: cli}).SendPeerMessage(ctx, cli.BuildHistorySyncRequest(anchor, count)); err != nil {
		ce.user.historyRequests.take(chat)
		zerolog.Ctx(ctx).Err(err).Msg("Failed to send history request to the phone")
		ce.reply(ctx, "Could not ask your phone: %v", err)
		return
	}
	ce.reply(ctx, "Asked your phone for up to %d earlier messages of this chat; they appear here when it answers (it has to be online).", count)
}

// handleEarlierHistory posts what the phone answered to sync-history (an ON_DEMAND chunk) in each
// chat's room, after a notice saying these messages are older; a chat without earlier messages
// gets a notice saying so.
func (r waRouter) handleEarlierHistory(ctx context.Context, chunk *whatsapp.HistoryChunk) {
	br := r.user.br
	cfg := br.Config.Bridge.HistorySync
	opts := portal.BackfillOptions{Media: cfg.MediaEnabled(), MediaLimit: cfg.MediaLimit(), Earlier: true}
	for _, chat := range chunk.Chats {
		room := r.user.historyRequests.take(chat.JID)
		var res portal.BackfillResult
		var err error
		if len(chat.Messages) > 0 {
			r.syncHistorySenders(ctx, chat.Messages)
			err = br.retryTransient(ctx, "bridge earlier history", func() error {
				res, err = br.portals.BackfillChat(ctx, r.login(), chat.JID, chat.Messages, opts)
				return err
			})
		}
		switch {
		case err != nil:
			zerolog.Ctx(ctx).Err(err).Stringer("chat", chat.JID).Msg("Failed to bridge earlier history")
			if room != "" {
				br.sendBotNotice(ctx, room, "Could not bring over the earlier messages your phone sent; see the bridge log.")
			}
		case res.Bridged == 0 && room != "":
			br.sendBotNotice(ctx, room, "Your phone has no earlier messages of this chat that are not here already.")
		}
	}
}
