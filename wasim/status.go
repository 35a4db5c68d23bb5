package wasim

import (
	"context"
	"fmt"
	"net/http"
	"sort"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// Status updates ("stories") are messages to status@broadcast. The posting phone chooses the
// viewers itself: with the default privacy setting ("my contacts") whatsmeow sends to every
// contact in the phone's address book that has a full name, after asking the server for the
// status privacy setting (an IQ in the "status" namespace). Like a group message the status is
// encrypted once with the poster's sender key for status@broadcast (skmsg) and each viewer device
// gets the sender key distribution message pairwise. The server keeps no member list: it delivers
// to exactly the devices the sender listed, as <message from="status@broadcast"
// participant=poster's device addressing_mode="lid"> with the SKDM enc before the skmsg, so
// whatsmeow reports events.Message with Chat = types.StatusBroadcastJID and Sender = the poster.
// A viewer's receipt for a status (to="status@broadcast" participant=poster) goes to the poster's
// devices with participant=the viewer, which is how the poster learns who saw it.

// PostStatus posts msg as a status update that viewers see: they are saved in the poster's
// address book (whatsmeow's contact store, the list the phone sends statuses to) and the message
// goes through whatsmeow's own SendMessage to types.StatusBroadcastJID. It returns the message ID.
func (c *Contact) PostStatus(ctx context.Context, msg *waE2E.Message, viewers ...*Account) (types.MessageID, error) {
	if len(viewers) == 0 {
		return "", fmt.Errorf("a status needs at least one viewer")
	}
	for _, viewer := range viewers {
		name := viewer.PushName()
		if name == "" {
			name = "+" + viewer.pn.User
		}
		if err := c.cli.Store.Contacts.PutContactName(ctx, viewer.pn, name, name); err != nil {
			return "", fmt.Errorf("failed to save %s in the address book: %w", viewer.pn, err)
		}
	}
	return c.Send(ctx, types.StatusBroadcastJID, msg)
}

// PostStatusMedia uploads m and posts it as a status update (see PostStatus).
func (c *Contact) PostStatusMedia(ctx context.Context, m Media, viewers ...*Account) (types.MessageID, error) {
	msg, err := UploadMedia(ctx, c.cli, m)
	if err != nil {
		return "", err
	}
	return c.PostStatus(ctx, msg, viewers...)
}

// handleStatusIQ answers the "status" namespace: the status privacy setting (always the default,
// "my contacts"). It reports whether it answered.
func (c *conn) handleStatusIQ(node, child *waBinary.Node) bool {
	typ, _ := node.Attrs["type"].(string)
	if typ != "get" || child.Tag != "privacy" {
		return false
	}
	res := iqResult(node)
	res.Content = []waBinary.Node{{Tag: "privacy", Content: []waBinary.Node{{
		Tag: "list", Attrs: waBinary.Attrs{"type": string(types.StatusPrivacyTypeContacts), "default": "true"},
	}}}}
	c.send(res)
	return true
}

// fanOutStatus routes a message to status@broadcast to the devices its sender listed; a retry
// resend (no participants, "participant" names the device that asked) goes to that device only.
func (s *Server) fanOutStatus(c *conn, node *waBinary.Node) {
	id, _ := node.Attrs["id"].(string)
	s.stateLock.Lock()
	sender := c.dev
	if sender == nil {
		s.stateLock.Unlock()
		c.send(groupAckError(id, types.StatusBroadcastJID, "401"))
		return
	}
	// A throwaway LID-addressed group record gives the copies the attributes of a group message.
	g := &group{jid: types.StatusBroadcastJID}
	t := nowString()
	var targets []*device
	perDevice := make(map[*device][]waBinary.Node)
	participants, hasParticipants := node.GetOptionalChildByTag("participants")
	if !hasParticipants {
		if target, ok := node.Attrs["participant"].(types.JID); ok {
			if acct := s.accountFor(target); acct != nil {
				if dev := acct.devices[target.Device]; dev != nil && dev != sender {
					s.deliverGroupCopyLocked(g, sender, node, dev, node.GetChildrenByTag("enc"), t)
				}
			}
		}
	} else if sender.seen.add(id) {
		for _, target := range participants.GetChildren() {
			jid, ok := target.Attrs["jid"].(types.JID)
			if target.Tag != "to" || !ok {
				continue
			}
			if acct := s.accountFor(jid); acct != nil {
				if dev := acct.devices[jid.Device]; dev != nil && dev != sender {
					if _, seen := perDevice[dev]; !seen {
						targets = append(targets, dev)
					}
					perDevice[dev] = append(perDevice[dev], target.GetChildrenByTag("enc")...)
				}
			}
		}
	}
	var shared []waBinary.Node
	for _, enc := range node.GetChildrenByTag("enc") {
		if enc.Attrs["type"] == "skmsg" {
			shared = append(shared, enc)
		}
	}
	sort.SliceStable(targets, func(i, j int) bool {
		if targets[i].acct.pn.User != targets[j].acct.pn.User {
			return targets[i].acct.pn.User < targets[j].acct.pn.User
		}
		return targets[i].id < targets[j].id
	})
	for _, dev := range targets {
		encs := append(append([]waBinary.Node(nil), perDevice[dev]...), shared...)
		s.deliverGroupCopyLocked(g, sender, node, dev, encs, t)
	}
	s.stateLock.Unlock()
	c.send(messageAck(id, types.StatusBroadcastJID))
}

// statusRequest is the body of POST /_wasim/status: a text status, or a media status of kind with
// data (base64) and an optional caption, shown to the accounts in viewers.
type statusRequest struct {
	sendRequest
	Viewers []string `json:"viewers"`
}

// apiPostStatus posts a status update from an account's phone.
func (s *Server) apiPostStatus(r *http.Request) (int, any, error) {
	var req statusRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if err = required("from", req.From); err != nil {
		return 0, nil, err
	} else if len(req.Viewers) == 0 {
		return 0, nil, badRequest("missing field \"viewers\" (phone numbers of the accounts that see the status)")
	}
	isMedia, err := req.content()
	if err != nil {
		return 0, nil, err
	}
	viewers := make([]*Account, 0, len(req.Viewers))
	for _, phone := range req.Viewers {
		acct, err := s.Account(phone)
		if err != nil {
			return 0, nil, err
		}
		viewers = append(viewers, acct)
	}
	poster, err := s.phoneOf(req.From)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := controlContext(r)
	defer cancel()
	var id string
	if isMedia {
		id, err = poster.PostStatusMedia(ctx, req.media(), viewers...)
	} else {
		id, err = poster.PostStatus(ctx, &waE2E.Message{Conversation: proto.String(req.Text)}, viewers...)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]string{"id": id}, nil
}
