package portal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// waSend is one message the fake WhatsApp client was asked to send.
type waSend struct {
	to  types.JID
	msg *waE2E.Message
	id  types.MessageID
}

// fakeWAClient is a WhatsApp connection that records sends. failNext makes sends fail.
type fakeWAClient struct {
	lock      sync.Mutex
	sends     []waSend
	fail      []error
	generated int
	group     *types.GroupInfo
	loggedOut bool
	// noPollSecret makes poll votes fail as whatsmeow does without the poll's message secret.
	noPollSecret bool
	// media, when set, is what every download returns; downloadErr, when set, the error instead.
	media       []byte
	downloadErr error
	// timers records SetDisappearingTimer calls.
	timers []disappearingSet
	// reads records the message IDs of MarkRead calls.
	reads [][]types.MessageID
	// groupLocked makes group info and member changes fail as WhatsApp refuses non-admins.
	groupLocked bool
	// memberChanges records the actions of UpdateGroupParticipants calls.
	memberChanges []string
	// mediaRetries records SendMediaRetryReceipt calls.
	mediaRetries []types.MessageInfo
	// photos records SetGroupPhoto calls, left LeaveGroup calls.
	photos [][]byte
	left   []types.JID
}

type disappearingSet struct {
	chat  types.JID
	timer time.Duration
}

var _ WAClient = (*fakeWAClient)(nil)

func (c *fakeWAClient) failNext(errs ...error) {
	c.lock.Lock()
	defer c.lock.Unlock()
	c.fail = append(c.fail, errs...)
}

// sent returns every send attempt, failed ones included.
func (c *fakeWAClient) sent() []waSend {
	c.lock.Lock()
	defer c.lock.Unlock()
	return append([]waSend(nil), c.sends...)
}

func (c *fakeWAClient) SendMessage(_ context.Context, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	c.lock.Lock()
	defer c.lock.Unlock()
	var msgID types.MessageID
	if len(extra) > 0 {
		msgID = extra[0].ID
	}
	c.sends = append(c.sends, waSend{to: to, msg: msg, id: msgID})
	if len(c.fail) > 0 {
		err := c.fail[0]
		c.fail = c.fail[1:]
		return whatsmeow.SendResponse{}, err
	}
	return whatsmeow.SendResponse{ID: msgID, Timestamp: time.Unix(1700000000, 0)}, nil
}

// key builds a message key as whatsmeow's BuildMessageKey does: an empty sender means one's own
// message (FromMe), any other sender is named as the participant.
func (c *fakeWAClient) key(chat, sender types.JID, msgID types.MessageID) *waCommon.MessageKey {
	key := &waCommon.MessageKey{RemoteJID: proto.String(chat.String()), ID: proto.String(msgID), FromMe: proto.Bool(sender.IsEmpty())}
	if !sender.IsEmpty() {
		key.Participant = proto.String(sender.String())
	}
	return key
}

func (c *fakeWAClient) BuildEdit(chat types.JID, msgID types.MessageID, newContent *waE2E.Message) *waE2E.Message {
	return &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
		Type: waE2E.ProtocolMessage_MESSAGE_EDIT.Enum(), Key: c.key(chat, types.EmptyJID, msgID), EditedMessage: newContent,
	}}
}

func (c *fakeWAClient) BuildRevoke(chat, sender types.JID, msgID types.MessageID) *waE2E.Message {
	return &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum(), Key: c.key(chat, sender, msgID)}}
}

func (c *fakeWAClient) BuildReaction(chat, sender types.JID, msgID types.MessageID, reaction string) *waE2E.Message {
	return &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{Key: c.key(chat, sender, msgID), Text: proto.String(reaction)}}
}

func (c *fakeWAClient) BuildPollCreation(name string, optionNames []string, selectable int) *waE2E.Message {
	var real whatsmeow.Client // whatsmeow's builder uses no connection
	return real.BuildPollCreation(name, optionNames, selectable)
}

// BuildPollVote builds a vote as whatsmeow does, except that the "encrypted" payload is the plain
// vote (DecryptPollVote reads it back).
func (c *fakeWAClient) BuildPollVote(_ context.Context, pollInfo *types.MessageInfo, optionNames []string) (*waE2E.Message, error) {
	if c.noPollSecret {
		return nil, fmt.Errorf("failed to encrypt poll vote: %w", whatsmeow.ErrOriginalMessageSecretNotFound)
	}
	payload, err := proto.Marshal(&waE2E.PollVoteMessage{SelectedOptions: whatsmeow.HashPollOptions(optionNames)})
	if err != nil {
		return nil, err
	}
	sender := pollInfo.Sender
	if pollInfo.IsFromMe {
		sender = types.EmptyJID
	}
	return &waE2E.Message{PollUpdateMessage: &waE2E.PollUpdateMessage{
		PollCreationMessageKey: c.key(pollInfo.Chat, sender, pollInfo.ID),
		Vote:                   &waE2E.PollEncValue{EncPayload: payload},
	}}, nil
}

func (c *fakeWAClient) DecryptPollVote(_ context.Context, vote *events.Message) (*waE2E.PollVoteMessage, error) {
	if c.noPollSecret {
		return nil, fmt.Errorf("failed to decrypt poll vote: %w", whatsmeow.ErrOriginalMessageSecretNotFound)
	}
	var msg waE2E.PollVoteMessage
	if err := proto.Unmarshal(vote.Message.GetPollUpdateMessage().GetVote().GetEncPayload(), &msg); err != nil {
		return nil, err
	}
	return &msg, nil
}

func (c *fakeWAClient) SetDisappearingTimer(_ context.Context, chat types.JID, timer time.Duration, _ time.Time) error {
	c.lock.Lock()
	defer c.lock.Unlock()
	c.timers = append(c.timers, disappearingSet{chat: chat, timer: timer})
	if len(c.fail) > 0 {
		err := c.fail[0]
		c.fail = c.fail[1:]
		return err
	}
	return nil
}

func (c *fakeWAClient) SetGroupPhoto(_ context.Context, jid types.JID, avatar []byte) (string, error) {
	c.lock.Lock()
	defer c.lock.Unlock()
	if c.groupLocked {
		return "", &whatsmeow.IQError{Code: 401, Text: "not-authorized"}
	}
	c.photos = append(c.photos, avatar)
	if avatar == nil {
		return "remove", nil
	}
	return fmt.Sprintf("pic%d", len(c.photos)), nil
}

func (c *fakeWAClient) CreateGroup(_ context.Context, req whatsmeow.ReqCreateGroup) (*types.GroupInfo, error) {
	c.lock.Lock()
	defer c.lock.Unlock()
	info := &types.GroupInfo{JID: types.NewJID("120363000000000099", types.GroupServer), GroupName: types.GroupName{Name: req.Name}}
	for _, jid := range req.Participants {
		info.Participants = append(info.Participants, types.GroupParticipant{JID: jid})
	}
	return info, nil
}

func (c *fakeWAClient) LeaveGroup(_ context.Context, jid types.JID) error {
	c.lock.Lock()
	defer c.lock.Unlock()
	c.left = append(c.left, jid)
	return nil
}

func (c *fakeWAClient) SendMediaRetryReceipt(_ context.Context, message *types.MessageInfo, _ []byte) error {
	c.lock.Lock()
	defer c.lock.Unlock()
	c.mediaRetries = append(c.mediaRetries, *message)
	return nil
}

func (c *fakeWAClient) GenerateMessageID() types.MessageID {
	c.lock.Lock()
	defer c.lock.Unlock()
	c.generated++
	return fmt.Sprintf("3EB0%08d", c.generated)
}

func (c *fakeWAClient) GetGroupInfo(_ context.Context, jid types.JID) (*types.GroupInfo, error) {
	c.lock.Lock()
	defer c.lock.Unlock()
	if c.group == nil || c.group.JID != jid {
		return nil, errors.New("no such group")
	}
	info := *c.group
	return &info, nil
}

func (c *fakeWAClient) SetGroupName(_ context.Context, jid types.JID, name string) error {
	return c.changeGroup(jid, func(g *types.GroupInfo) { g.Name = name })
}

func (c *fakeWAClient) SetGroupTopic(_ context.Context, jid types.JID, _, _, topic string) error {
	return c.changeGroup(jid, func(g *types.GroupInfo) { g.Topic = topic })
}

// changeGroup applies a group change, or fails with WhatsApp's refusal while groupLocked is set.
func (c *fakeWAClient) changeGroup(jid types.JID, change func(g *types.GroupInfo)) error {
	c.lock.Lock()
	defer c.lock.Unlock()
	if c.group == nil || c.group.JID != jid {
		return errors.New("no such group")
	}
	if c.groupLocked {
		return fmt.Errorf("failed to change group: %w", whatsmeow.ErrIQNotAuthorized)
	}
	change(c.group)
	return nil
}

func (c *fakeWAClient) UpdateGroupParticipants(_ context.Context, jid types.JID, changes []types.JID, action whatsmeow.ParticipantChange) ([]types.GroupParticipant, error) {
	c.lock.Lock()
	defer c.lock.Unlock()
	c.memberChanges = append(c.memberChanges, string(action))
	if c.group == nil || c.group.JID != jid {
		return nil, errors.New("no such group")
	}
	if c.groupLocked {
		return nil, fmt.Errorf("failed to update participants: %w", whatsmeow.ErrIQNotAuthorized)
	}
	out := make([]types.GroupParticipant, len(changes))
	for i, jid := range changes {
		out[i] = types.GroupParticipant{JID: jid}
	}
	return out, nil
}

func (c *fakeWAClient) MarkRead(_ context.Context, ids []types.MessageID, _ time.Time, _ types.JID, _ types.JID, _ ...types.ReceiptType) error {
	c.lock.Lock()
	defer c.lock.Unlock()
	c.reads = append(c.reads, ids)
	return nil
}

// markedRead returns the message IDs of every MarkRead call so far.
func (c *fakeWAClient) markedRead() [][]types.MessageID {
	c.lock.Lock()
	defer c.lock.Unlock()
	return slices.Clone(c.reads)
}

func (c *fakeWAClient) SendChatPresence(context.Context, types.JID, types.ChatPresence, types.ChatPresenceMedia) error {
	return nil
}

func (c *fakeWAClient) IsLoggedIn() bool {
	c.lock.Lock()
	defer c.lock.Unlock()
	return !c.loggedOut
}

func (c *fakeWAClient) Download(context.Context, whatsmeow.DownloadableMessage) ([]byte, error) {
	if c.downloadErr != nil {
		return nil, c.downloadErr
	}
	if c.media != nil {
		return c.media, nil
	}
	return nil, errors.New("fake client has no media")
}

func (c *fakeWAClient) Upload(context.Context, []byte, whatsmeow.MediaType) (whatsmeow.UploadResponse, error) {
	return whatsmeow.UploadResponse{}, errors.New("fake client has no media")
}

// fakeLogin is one bridge user's WhatsApp account. Its client is nil while disconnected.
type fakeLogin struct {
	mxid id.UserID
	jid  types.JID

	lock   sync.Mutex
	client *fakeWAClient
	// avatar answers Avatar; nil means "no picture available right now".
	avatar func(ctx context.Context) (*puppet.Avatar, error)
}

var _ Login = (*fakeLogin)(nil)

func (l *fakeLogin) UserMXID() id.UserID      { return l.mxid }
func (l *fakeLogin) OwnJID() types.JID        { return l.jid }
func (l *fakeLogin) LIDs() puppet.LIDResolver { return nil }

func (l *fakeLogin) DoublePuppeted() bool { return false }

func (l *fakeLogin) Client() WAClient {
	l.lock.Lock()
	defer l.lock.Unlock()
	if l.client == nil {
		return nil
	}
	return l.client
}

// setConnected connects (with cli) or disconnects (cli nil) the login.
func (l *fakeLogin) setConnected(cli *fakeWAClient) {
	l.lock.Lock()
	l.client = cli
	l.lock.Unlock()
}

func (l *fakeLogin) Avatar(ctx context.Context, _ types.JID, _ string) (*puppet.Avatar, error) {
	if l.avatar == nil {
		return nil, nil
	}
	return l.avatar(ctx)
}

// fakeUsers is the bridge's user registry.
type fakeUsers struct {
	logins []*fakeLogin
}

var _ Users = (*fakeUsers)(nil)

func (u *fakeUsers) LoginByMXID(_ context.Context, userID id.UserID, key database.PortalKey) Login {
	receiver := key.Receiver
	var first Login
	for _, l := range u.logins {
		if l.mxid != userID {
			continue
		}
		if !receiver.IsEmpty() && l.jid.User == receiver.User {
			return l
		}
		if first == nil {
			first = l
		}
	}
	return first
}

func (u *fakeUsers) RoomCreated(context.Context, Login, types.JID, id.RoomID) {}

func (u *fakeUsers) LoginByJID(_ context.Context, jid types.JID) Login {
	for _, l := range u.logins {
		if l.jid == jid.ToNonAD() {
			return l
		}
	}
	return nil
}
