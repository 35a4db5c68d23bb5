package bridge

import (
	"errors"
	"net/http"
	"strings"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
)

// provisionGroup is one group in the answer of GET /groups.
type provisionGroup struct {
	JID          string    `json:"jid"`
	Name         string    `json:"name"`
	Topic        string    `json:"topic,omitempty"`
	Participants int       `json:"participants"`
	IsAdmin      bool      `json:"is_admin"`
	RoomID       id.RoomID `json:"room_id,omitempty"`
}

// provisionGroups answers GET /groups: the WhatsApp groups the user is in, as WhatsApp lists them
// now, with each portal room (absent while a group has none yet) and whether the user is an admin.
func (br *Bridge) provisionGroups(w http.ResponseWriter, r *http.Request, user *Account) {
	cli, err := connectedClient(user)
	if err != nil {
		writeGroupError(w, r, classifyGroupError(err))
		return
	}
	var groups []*types.GroupInfo
	err = portal.RetryRateLimited(r.Context(), "list your groups", func() (err error) {
		groups, err = cli.GetJoinedGroups(r.Context())
		return err
	})
	if err != nil {
		writeGroupError(w, r, classifyGroupError(err))
		return
	}
	own := user.WAJID()
	out := make([]provisionGroup, 0, len(groups))
	for _, g := range groups {
		pg := provisionGroup{JID: g.JID.String(), Name: g.Name, Topic: g.Topic, Participants: len(g.Participants)}
		for _, p := range g.Participants {
			if p.PhoneNumber.User == own.User || p.JID.User == own.User {
				pg.IsAdmin = p.IsAdmin || p.IsSuperAdmin
			}
		}
		if pg.RoomID, err = br.portals.RoomOfChat(r.Context(), userLogin{user}, g.JID); err != nil {
			zerolog.Ctx(r.Context()).Warn().Err(err).Stringer("chat", g.JID).Msg("Failed to look up group portal")
		}
		out = append(out, pg)
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": out})
}

// provisionJoinGroup answers POST /groups/join {"link": "https://chat.whatsapp.com/…"}: the user
// joins the group and is invited to its room, like the join command.
func (br *Bridge) provisionJoinGroup(w http.ResponseWriter, r *http.Request, user *Account) {
	var req struct {
		Link string `json:"link"`
	}
	if !decodeProvisionBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Link) == "" {
		provisionError(w, http.StatusBadRequest, "M_MISSING_PARAM", `Missing "link": the group's invite link (https://chat.whatsapp.com/…)`)
		return
	}
	joined, err := br.joinGroupByLink(r.Context(), user, req.Link)
	var ge *groupError
	switch {
	case errors.As(err, &ge):
		writeGroupError(w, r, ge)
		return
	case err != nil:
		zerolog.Ctx(r.Context()).Err(err).Msg("Failed to set up the room of a joined group")
		mautrix.MUnknown.WithMessage("Joined the group, but its room could not be created: %v", err).WithStatus(http.StatusInternalServerError).Write(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jid": joined.JID.String(), "name": joined.Name, "room_id": joined.RoomID, "already_member": joined.Already})
}

// provisionInviteLink answers GET /groups/{jid}/invite_link: the group's current invite link.
func (br *Bridge) provisionInviteLink(w http.ResponseWriter, r *http.Request, user *Account) {
	br.answerInviteLink(w, r, user, false)
}

// provisionResetInviteLink answers POST /groups/{jid}/invite_link/reset: the old link is revoked
// and the new one returned.
func (br *Bridge) provisionResetInviteLink(w http.ResponseWriter, r *http.Request, user *Account) {
	br.answerInviteLink(w, r, user, true)
}

func (br *Bridge) answerInviteLink(w http.ResponseWriter, r *http.Request, user *Account, reset bool) {
	raw := r.PathValue("jid")
	jid, err := types.ParseJID(raw)
	if err != nil || jid.Server != types.GroupServer || jid.User == "" {
		mautrix.MInvalidParam.WithMessage("%q is not a WhatsApp group JID (e.g. 120363012345678901@g.us)", raw).Write(w)
		return
	}
	link, err := groupInviteLink(r.Context(), user, jid, reset)
	if err != nil {
		var ge *groupError
		if errors.As(err, &ge) {
			writeGroupError(w, r, ge)
		} else {
			mautrix.MUnknown.WithMessage("%v", err).WithStatus(http.StatusInternalServerError).Write(w)
		}
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jid": jid.String(), "invite_link": link})
}

// writeGroupError answers a failed group request; WhatsApp's unexpected answers are logged.
func writeGroupError(w http.ResponseWriter, r *http.Request, ge *groupError) {
	if ge.status >= http.StatusInternalServerError {
		zerolog.Ctx(r.Context()).Warn().Err(ge.err).Msg("WhatsApp group request failed")
	}
	provisionError(w, ge.status, ge.errcode, ge.msg)
}
