package wasim

import (
	"encoding/binary"
	"strconv"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// minPreKeys is the count below which a device is told to upload more one-time prekeys.
const minPreKeys = 5

// handleEncryptIQ serves the prekey count, prekey uploads and prekey bundle fetches.
func (c *conn) handleEncryptIQ(node *waBinary.Node, child *waBinary.Node) {
	switch child.Tag {
	case "count":
		c.srv.stateLock.Lock()
		n := 0
		if c.dev != nil {
			n = len(c.dev.preKeys)
		}
		c.srv.stateLock.Unlock()
		c.send(iqResult(node, waBinary.Node{Tag: "count", Attrs: waBinary.Attrs{"value": itoa(n)}}))
	case "key":
		c.send(iqResult(node, c.srv.preKeyBundles(child)))
	default:
		if node.Attrs["type"] == "set" {
			c.handlePreKeyUpload(node)
			return
		}
		c.send(iqError(node, 400, "bad-request"))
	}
}

func itoa(n int) string {
	return strconv.Itoa(n)
}

func keyID(raw []byte) (uint32, bool) {
	if len(raw) != 3 {
		return 0, false
	}
	return binary.BigEndian.Uint32(append([]byte{0}, raw...)), true
}

func keyIDBytes(id uint32) []byte {
	var buf [4]byte
	binary.BigEndian.PutUint32(buf[:], id)
	return buf[1:]
}

// handlePreKeyUpload stores a device's one-time prekeys and its signed prekey.
func (c *conn) handlePreKeyUpload(node *waBinary.Node) {
	var keys []preKey
	list := node.GetChildByTag("list")
	for _, k := range list.GetChildren() {
		id, ok := keyID(bytesOf(k.GetChildByTag("id")))
		pub := bytesOf(k.GetChildByTag("value"))
		if !ok || len(pub) != 32 {
			c.send(iqError(node, 400, "bad-request"))
			return
		}
		keys = append(keys, preKey{id: id, pub: [32]byte(pub)})
	}
	skeyNode := node.GetChildByTag("skey")
	skeyID, ok := keyID(bytesOf(skeyNode.GetChildByTag("id")))
	skeyPub := bytesOf(skeyNode.GetChildByTag("value"))
	skeySig := bytesOf(skeyNode.GetChildByTag("signature"))
	if !ok || len(skeyPub) != 32 || len(skeySig) != 64 {
		c.send(iqError(node, 400, "bad-request"))
		return
	}
	identity := bytesOf(node.GetChildByTag("identity"))
	s := c.srv
	s.stateLock.Lock()
	if dev := c.dev; dev != nil {
		if len(identity) == 32 && [32]byte(identity) != dev.identity {
			c.log.Warn().Msg("Prekey upload with a different identity key")
		}
		dev.addPreKeys(keys)
		dev.signedPreKey = preKey{id: skeyID, pub: [32]byte(skeyPub), sig: [64]byte(skeySig)}
	}
	s.stateLock.Unlock()
	c.send(iqResult(node))
}

func bytesOf(node waBinary.Node) []byte {
	switch v := node.Content.(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	return nil
}

// preKeyBundles answers a bundle fetch. Each one-time prekey is handed out once; a device without
// any left still gets a valid bundle (identity and signed prekey only).
func (s *Server) preKeyBundles(keyNode *waBinary.Node) waBinary.Node {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	var users []waBinary.Node
	for _, req := range keyNode.GetChildren() {
		jid, ok := req.Attrs["jid"].(types.JID)
		if req.Tag != "user" || !ok {
			continue
		}
		var dev *device
		if acct := s.accountFor(jid); acct != nil {
			dev = acct.devices[jid.Device]
		}
		if dev == nil {
			users = append(users, waBinary.Node{Tag: "user", Attrs: waBinary.Attrs{"jid": jid}, Content: []waBinary.Node{{
				Tag: "error", Attrs: waBinary.Attrs{"code": "404", "text": "item-not-found"},
			}}})
			continue
		}
		var regID [4]byte
		binary.BigEndian.PutUint32(regID[:], dev.regID)
		content := []waBinary.Node{
			{Tag: "registration", Content: regID[:]},
			{Tag: "type", Content: []byte{5}},
			{Tag: "identity", Content: dev.identity[:]},
		}
		if k, ok := dev.takePreKey(); ok {
			if len(dev.preKeys) == minPreKeys-1 {
				s.enqueueLocked(dev, waBinary.Node{
					Tag:     "notification",
					Attrs:   waBinary.Attrs{"from": types.ServerJID, "type": "encrypt", "id": s.nextID(), "t": nowString()},
					Content: []waBinary.Node{{Tag: "count", Attrs: waBinary.Attrs{"value": itoa(len(dev.preKeys))}}},
				})
			}
			content = append(content, waBinary.Node{Tag: "key", Content: []waBinary.Node{
				{Tag: "id", Content: keyIDBytes(k.id)},
				{Tag: "value", Content: k.pub[:]},
			}})
		}
		content = append(content, waBinary.Node{Tag: "skey", Content: []waBinary.Node{
			{Tag: "id", Content: keyIDBytes(dev.signedPreKey.id)},
			{Tag: "value", Content: dev.signedPreKey.pub[:]},
			{Tag: "signature", Content: dev.signedPreKey.sig[:]},
		}})
		users = append(users, waBinary.Node{Tag: "user", Attrs: waBinary.Attrs{"jid": jid}, Content: content})
	}
	return waBinary.Node{Tag: "list", Content: users}
}

// addPreKeys stores uploaded one-time prekeys as a set, as WhatsApp's server does: a key whose ID is
// already stored or was already handed out is ignored, so a repeated upload (whatsmeow sends the
// same keys again when it did not see the first upload's answer) never makes the server hand out
// one key twice. Caller holds stateLock.
func (d *device) addPreKeys(keys []preKey) {
	stored := make(map[uint32]struct{}, len(d.preKeys))
	for _, k := range d.preKeys {
		stored[k.id] = struct{}{}
	}
	for _, k := range keys {
		if _, ok := stored[k.id]; ok {
			continue
		}
		if _, ok := d.usedPreKeys[k.id]; ok {
			continue
		}
		stored[k.id] = struct{}{}
		d.preKeys = append(d.preKeys, k)
	}
}

// takePreKey hands out the oldest stored one-time prekey, once. Caller holds stateLock.
func (d *device) takePreKey() (preKey, bool) {
	if len(d.preKeys) == 0 {
		return preKey{}, false
	}
	k := d.preKeys[0]
	d.preKeys = d.preKeys[1:]
	if d.usedPreKeys == nil {
		d.usedPreKeys = make(map[uint32]struct{})
	}
	d.usedPreKeys[k.id] = struct{}{}
	return k, true
}
