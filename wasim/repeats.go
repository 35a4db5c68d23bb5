package wasim

import "net/http"

// SetDeliverRepeats sets what the server does with a message whose ID the sending device used
// before: a client that resends after a lost ack or a failed send encrypts the message again, so
// the repeat has the same ID but a new ciphertext.
//
// On, every repeat is delivered to the recipients again, as the real server is reported (not
// verified) to do; the recipient must recognise the repeat by its message key (chat, sender, ID),
// as WhatsApp's apps do. whatsmeow does not: it recognises a message it already handled only by
// its ciphertext (Client.bufferedDecrypt), so a whatsmeow peer shows such a repeat twice. Off (the
// default), the server acks the repeat and delivers nothing, which spares the simulator's
// whatsmeow contacts. A retry resend (a message without participants, answering a retry receipt)
// is delivered either way; a repeated status update (status@broadcast) never is.
func (s *Server) SetDeliverRepeats(on bool) {
	s.stateLock.Lock()
	s.deliverRepeats = on
	s.stateLock.Unlock()
	s.log.Info().Bool("deliver_repeats", on).Msg("Repeated message IDs policy changed")
}

// apiRepeats serves POST /_wasim/faults/repeats {on}: it calls SetDeliverRepeats and answers
// {deliver_repeats}.
func (s *Server) apiRepeats(r *http.Request) (int, any, error) {
	var req struct {
		On *bool `json:"on"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	if req.On == nil {
		return 0, nil, badRequest(`missing field "on"`)
	}
	s.SetDeliverRepeats(*req.On)
	return http.StatusOK, map[string]bool{"deliver_repeats": *req.On}, nil
}
