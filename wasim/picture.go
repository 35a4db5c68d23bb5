package wasim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// Profile and group pictures: stored per user (PN user) or group, served over plain HTTP under
// /pps/, looked up with the w:profile:picture IQ, and announced with picture notifications.

// picture is one stored profile or group picture.
type picture struct {
	id   string
	data []byte
}

// SetProfilePicture sets (or, with nil data, removes) the picture of an account and tells every
// connected account about the change. It returns the new picture ID.
func (s *Server) SetProfilePicture(ctx context.Context, acct *Account, data []byte) (string, error) {
	return s.setPicture(acct.pn.User, acct.lid, acct.lid, data)
}

// SetGroupPicture sets (or removes) a group's picture as actor.
func (s *Server) SetGroupPicture(ctx context.Context, actor *Account, group types.JID, data []byte) (string, error) {
	s.stateLock.Lock()
	_, ok := s.groups[group.User]
	s.stateLock.Unlock()
	if !ok {
		return "", ErrNoSuchGroup
	}
	return s.setPicture(group.User, group, actor.lid, data)
}

func (s *Server) setPicture(key string, subject, author types.JID, data []byte) (string, error) {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	if s.pictures == nil {
		s.pictures = make(map[string]*picture)
	}
	change := waBinary.Node{Tag: "delete", Attrs: waBinary.Attrs{"jid": subject, "author": author}}
	id := ""
	if data == nil {
		delete(s.pictures, key)
	} else {
		sum := sha256.Sum256(data)
		id = fmt.Sprintf("%d", 1_000_000_000+int(sum[0])<<16|int(sum[1])<<8|int(sum[2]))
		s.pictures[key] = &picture{id: id, data: append([]byte(nil), data...)}
		change = waBinary.Node{Tag: "set", Attrs: waBinary.Attrs{"jid": subject, "id": id, "author": author}}
	}
	for _, acct := range s.accounts {
		for _, dev := range acct.devices {
			s.enqueueLocked(dev, waBinary.Node{
				Tag:     "notification",
				Attrs:   waBinary.Attrs{"from": subject, "type": "picture", "id": s.nextID(), "t": nowString()},
				Content: []waBinary.Node{change},
			})
		}
	}
	return id, nil
}

// pictureKeyLocked maps the target of a picture query (PN, LID or group JID) to the storage key.
func (s *Server) pictureKeyLocked(target types.JID) string {
	switch target.Server {
	case types.HiddenUserServer:
		if acct := s.accountsLID[target.User]; acct != nil {
			return acct.pn.User
		}
	}
	return target.User
}

// handlePictureIQ answers <iq xmlns="w:profile:picture"><picture query="url" [id=known]/></iq>, and
// a change of a group's picture (type="set", see handleGroupPictureSet).
func (c *conn) handlePictureIQ(node *waBinary.Node, child *waBinary.Node) {
	target, _ := node.Attrs["target"].(types.JID)
	s := c.srv
	if typ, _ := node.Attrs["type"].(string); typ == "set" {
		c.handleGroupPictureSet(node, target)
		return
	}
	s.stateLock.Lock()
	key := s.pictureKeyLocked(target)
	pic := s.pictures[key]
	s.stateLock.Unlock()
	if pic == nil {
		c.send(iqError(node, 404, "item-not-found"))
		return
	}
	if known, _ := child.Attrs["id"].(string); known == pic.id {
		c.send(iqResult(node, waBinary.Node{Tag: "picture", Attrs: waBinary.Attrs{"status": "304"}}))
		return
	}
	path := "/pps/" + key + "/" + pic.id
	c.send(iqResult(node, waBinary.Node{Tag: "picture", Attrs: waBinary.Attrs{
		"id": pic.id, "type": "image", "direct_path": path, "url": "https://" + MediaHost + path,
	}}))
}

// handlePictureDownload serves /pps/<key>/<id>.
func (s *Server) handlePictureDownload(w http.ResponseWriter, r *http.Request) {
	key, id, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/pps/"), "/")
	s.stateLock.Lock()
	pic := s.pictures[key]
	s.stateLock.Unlock()
	if pic == nil || pic.id != id {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", http.DetectContentType(pic.data))
	w.Header().Set("ETag", hex.EncodeToString([]byte(pic.id)))
	_, _ = w.Write(pic.data)
}

// handleGroupPictureSet sets (with a <picture type="image"> child holding a JPEG) or removes
// (without one) a group's picture, as whatsmeow's SetGroupPhoto asks, and answers with the new
// picture ID. As on WhatsApp only members may, only admins when the group's info is locked (401),
// and only JPEG is accepted (406, whatsmeow's ErrInvalidImageFormat).
func (c *conn) handleGroupPictureSet(node *waBinary.Node, target types.JID) {
	s := c.srv
	s.stateLock.Lock()
	dev := c.dev
	var g *group
	var err error
	if dev != nil && target.Server == types.GroupServer {
		g, err = s.lookupGroupActor(target, dev.acct, false)
	}
	locked := g != nil && g.locked && !g.isAdmin(dev.acct)
	s.stateLock.Unlock()
	switch {
	case dev == nil:
		c.send(iqError(node, 401, "not-authorized"))
		return
	case target.Server != types.GroupServer:
		c.send(iqError(node, 400, "bad-request"))
		return
	case errors.Is(err, ErrNoSuchGroup):
		c.send(iqError(node, 404, "item-not-found"))
		return
	case err != nil:
		c.send(iqError(node, 403, "forbidden"))
		return
	case locked:
		c.send(iqError(node, 401, "not-authorized"))
		return
	}
	var data []byte
	if pic, ok := node.GetOptionalChildByTag("picture"); ok {
		data, _ = pic.Content.([]byte)
		if !bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}) {
			c.send(iqError(node, 406, "not-acceptable"))
			return
		}
	}
	id, err := s.setPicture(target.User, target, dev.acct.lid, data)
	if err != nil {
		c.send(iqError(node, 500, "internal-server-error"))
		return
	}
	if data == nil {
		c.send(iqResult(node))
		return
	}
	c.send(iqResult(node, waBinary.Node{Tag: "picture", Attrs: waBinary.Attrs{"id": id}}))
}
