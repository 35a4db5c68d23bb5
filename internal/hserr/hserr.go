// Package hserr classifies the errors of Matrix client-server API requests (mautrix.HTTPError and
// network errors) by what retrying can do about them. The bridge's retries, the WhatsApp inbox's
// backoff and the portal's look for an earlier attempt's event share it, so that they agree on
// when the homeserver is away.
package hserr

import (
	"errors"
	"net"
	"net/http"

	"maunium.net/go/mautrix"
)

// Unanswered reports whether err is a homeserver request (mautrix wraps the failure of every one
// in an HTTPError, a network error included) that the homeserver did not answer as itself: no
// answer at all (the HTTPError has no response), a 5xx, or a 429 (rate limited: it answered, but
// only to say "later"). Such a request may succeed as it is when sent again, and it tells nothing
// about whether an earlier send was stored. An error that is not an HTTPError, even a network
// error (a WhatsApp connection's, a media server's), is not the homeserver's and never counts.
func Unanswered(err error) bool {
	var httpErr mautrix.HTTPError
	if !errors.As(err, &httpErr) {
		return false
	}
	if httpErr.Response == nil {
		return true
	}
	code := httpErr.Response.StatusCode
	return code >= http.StatusInternalServerError || code == http.StatusTooManyRequests
}

// StatusCode returns the HTTP status of the homeserver's answer in err, or 0 when err holds no
// answer.
func StatusCode(err error) int {
	var httpErr mautrix.HTTPError
	if !errors.As(err, &httpErr) || httpErr.Response == nil {
		return 0
	}
	return httpErr.Response.StatusCode
}

// Misrouted reports whether err is the answer of something that does not serve the client-server
// API: a 404 or 405 with the errcode M_UNRECOGNIZED (the spec's answer for an unknown endpoint,
// and every endpoint the bridge calls exists on a homeserver) or without a Matrix error body at all
// (a reverse proxy whose homeserver is restarting, another service that took the homeserver's
// port). It says nothing about the request itself.
func Misrouted(err error) bool {
	var httpErr mautrix.HTTPError
	if !errors.As(err, &httpErr) || httpErr.Response == nil {
		return false
	}
	if code := httpErr.Response.StatusCode; code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		return false
	}
	return httpErr.RespError == nil || httpErr.RespError.ErrCode == "" || httpErr.RespError.ErrCode == mautrix.MUnrecognized.ErrCode
}

// Transient reports whether err may go away by itself: the homeserver is down, overloaded or rate
// limiting (Unanswered), the request reached something other than the homeserver (Misrouted), or
// the network failed (a net.Error anywhere in the chain).
func Transient(err error) bool {
	var netErr net.Error
	return Unanswered(err) || Misrouted(err) || errors.As(err, &netErr)
}

// Permanent reports whether the homeserver refused the request itself with a 4xx other than 429,
// which sending it again will not change. An error without an HTTP answer is not permanent.
func Permanent(err error) bool {
	code := StatusCode(err)
	return code >= 400 && code < 500 && code != http.StatusTooManyRequests && !Misrouted(err)
}
