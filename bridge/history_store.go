package bridge

import (
	"context"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waHistorySync"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// Keeping history across a restart: each RECENT or FULL chunk is stored (history_chunks) when it
// arrives, before it joins the in-memory buffer, and the stored chunks are deleted once the last
// chunk came and everything was backfilled. After a restart the stored chunks are read back into
// the buffer, either when the login connects (and, if the last chunk was among them, backfilled
// then) or before the next chunk from the phone is handled, whichever comes first (both hold
// historyProgress.handleLock). Nothing is posted twice: what was backfilled before the restart is
// in the message map and the portal drops it.
//
// whatsmeow acknowledges a history sync notification to the phone before it downloads the chunk,
// so a chunk the bridge had not received yet when it stopped is not sent again.

// keepHistoryChunk stores chunk until it is backfilled. Failing to store it is logged; the chunk
// is still backfilled if the bridge keeps running.
func (r waRouter) keepHistoryChunk(ctx context.Context, chunk *whatsapp.HistoryChunk) {
	if len(chunk.Raw) == 0 {
		return
	}
	err := r.user.br.DB.HistoryChunk.Insert(ctx, r.user.MXID, r.user.loginID(), &database.HistoryChunk{
		SyncType: int(chunk.Type), ChunkOrder: int(chunk.ChunkOrder), Progress: int(chunk.Progress), Data: chunk.Raw,
	})
	if err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to store history chunk; a restart before it is bridged loses it")
	}
}

// forgetKeptHistory deletes the stored chunks: they are bridged, or a new link began. Caller holds
// history.handleLock.
func (r waRouter) forgetKeptHistory(ctx context.Context) {
	r.user.history.restored = true
	if err := r.user.br.DB.HistoryChunk.DeleteAll(ctx, r.user.MXID, r.user.loginID()); err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to delete bridged history chunks")
	}
}

// restoreHistory reads the stored chunks back into the buffer once per process and reports
// whether the phone's last chunk was among them. Caller holds history.handleLock.
func (r waRouter) restoreHistory(ctx context.Context) (complete bool) {
	h := &r.user.history
	if h.restored {
		return false
	}
	stored, err := r.user.br.DB.HistoryChunk.GetAll(ctx, r.user.MXID, r.user.loginID())
	if err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to read stored history chunks")
		return false
	}
	h.restored = true
	if len(stored) == 0 {
		return false
	}
	var chunks []*whatsapp.HistoryChunk
	for _, row := range stored {
		chunk, err := r.user.wa.ParseStoredHistory(ctx, row.Data)
		if err != nil {
			h.restored = false // not connected yet: try again at the next chunk or connect
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to read back stored history chunk")
			return false
		}
		chunks = append(chunks, chunk)
		complete = complete || row.Progress >= 100
	}
	h.lock.Lock()
	if h.chats == nil {
		h.reset()
	}
	h.running = true
	for _, chunk := range chunks {
		for _, chat := range chunk.Chats {
			h.buffer(chat)
		}
	}
	h.lock.Unlock()
	zerolog.Ctx(ctx).Info().Int("chunks", len(chunks)).Bool("complete", complete).Msg("Restored history chunks kept before a restart")
	return complete
}

// resumeHistory runs when the login connects: it restores the stored chunks and, when the
// phone's last chunk was among them, backfills them now instead of waiting for chunks that will
// not come.
func (r waRouter) resumeHistory(ctx context.Context) {
	h := &r.user.history
	h.handleLock.Lock()
	defer h.handleLock.Unlock()
	if !r.user.br.Config.Bridge.HistorySync.IsEnabled() || !r.restoreHistory(ctx) {
		return
	}
	h.lock.Lock()
	chats := h.takeBuffered()
	h.lock.Unlock()
	ctx = zerolog.Ctx(ctx).With().Str("history_type", waHistorySync.HistorySync_FULL.String()).Logger().WithContext(ctx)
	r.backfillChats(ctx, chats)
	r.updateHistoryNotice(ctx, true)
	r.forgetKeptHistory(ctx)
}
