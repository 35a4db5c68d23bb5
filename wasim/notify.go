package wasim

import (
	"crypto/sha256"
	"encoding/base64"
	"sort"
	"strings"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// deviceListHash is whatsmeow's participant list hash (v2): the first six bytes of SHA-256 over
// the sorted AD strings, unpadded base64, prefixed "2:".
func deviceListHash(devices []types.JID) string {
	strs := make([]string, len(devices))
	for i, d := range devices {
		strs[i] = d.ADString()
	}
	sort.Strings(strs)
	sum := sha256.Sum256([]byte(strings.Join(strs, "")))
	return "2:" + base64.RawStdEncoding.EncodeToString(sum[:6])
}

// deviceJIDsLocked lists the account's devices under user (its PN or LID). Caller holds stateLock.
func (a *Account) deviceJIDsLocked(user types.JID) []types.JID {
	ids := a.sortedDeviceIDs()
	out := make([]types.JID, len(ids))
	for i, id := range ids {
		out[i] = deviceJID(user, id)
	}
	return out
}

// announceDeviceChangeLocked tells the account's other devices (account_sync) and every account
// that fetched its device list (devices add/remove) that device devID came or went, with hashes
// over the new list so whatsmeow updates its cache instead of dropping it. Caller holds stateLock.
func (s *Server) announceDeviceChangeLocked(acct *Account, devID uint16, added bool) {
	lidDevices := acct.deviceJIDsLocked(acct.lid)
	own := make([]waBinary.Node, len(lidDevices))
	for i, d := range lidDevices {
		own[i] = waBinary.Node{Tag: "device", Attrs: waBinary.Attrs{"jid": d}}
	}
	for _, dev := range acct.devices {
		if dev.id == devID {
			continue
		}
		s.enqueueLocked(dev, waBinary.Node{
			Tag:   "notification",
			Attrs: waBinary.Attrs{"from": acct.lid, "type": "account_sync", "id": s.nextID(), "t": nowString()},
			Content: []waBinary.Node{{
				Tag: "devices", Attrs: waBinary.Attrs{"dhash": deviceListHash(lidDevices)}, Content: own,
			}},
		})
	}
	change := "remove"
	if added {
		change = "add"
	}
	for watcher := range acct.watchers {
		for _, dev := range watcher.devices {
			s.enqueueLocked(dev, waBinary.Node{
				Tag:   "notification",
				Attrs: waBinary.Attrs{"from": acct.lid, "type": "devices", "id": s.nextID(), "t": nowString()},
				Content: []waBinary.Node{{
					Tag:     change,
					Attrs:   waBinary.Attrs{"device_hash": deviceListHash(lidDevices)},
					Content: []waBinary.Node{{Tag: "device", Attrs: waBinary.Attrs{"jid": deviceJID(acct.lid, devID)}}},
				}},
			})
		}
	}
}
