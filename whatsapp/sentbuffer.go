package whatsapp

import (
	"context"

	"go.mau.fi/whatsmeow/store"
)

// ownerPrunedBuffer is a device's event buffer whose sent messages (whatsmeow's retry buffer) are
// pruned by the client's owner on its own schedule (database.PruneSentMessages). whatsmeow
// (Client.addRecentMessage, with UseRetryMessageStore) deletes the messages older than 7 days
// after every message it sends once its last clear is 12 hours old, and it never records that
// clear, so without this every send costs a DELETE statement besides its INSERT.
type ownerPrunedBuffer struct {
	store.EventBuffer
}

// DeleteOldOutgoingEvents does nothing: the owner prunes the retry buffer.
func (ownerPrunedBuffer) DeleteOldOutgoingEvents(context.Context) error { return nil }

// keepSentMessagesPrunedByOwner makes device's retry buffer pruned by the owner only, once. A
// device that was never saved (one about to pair) has no event buffer yet: whatsmeow's sqlstore
// creates it at the first save (Container.PutDevice), so the container is wrapped to do it then.
func keepSentMessagesPrunedByOwner(device *store.Device) {
	switch device.EventBuffer.(type) {
	case ownerPrunedBuffer:
	case nil:
		if _, ok := device.Container.(prunedOnSave); !ok && device.Container != nil {
			device.Container = prunedOnSave{DeviceContainer: device.Container}
		}
	default:
		device.EventBuffer = ownerPrunedBuffer{EventBuffer: device.EventBuffer}
	}
}

// prunedOnSave is a device container that applies keepSentMessagesPrunedByOwner to a device right
// after saving it.
type prunedOnSave struct {
	store.DeviceContainer
}

// PutDevice saves device and wraps the event buffer the save created (whatsmeow's sqlstore creates
// it even when the save failed).
func (c prunedOnSave) PutDevice(ctx context.Context, device *store.Device) error {
	err := c.DeviceContainer.PutDevice(ctx, device)
	if device.EventBuffer != nil {
		keepSentMessagesPrunedByOwner(device)
	}
	return err
}
