package wasim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

func randomBytes(n int) []byte {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	return buf
}

func idIs(id types.MessageID) func(*events.Message) bool {
	return func(msg *events.Message) bool { return msg.Info.ID == id }
}

// mediaKinds are the attachment kinds with the size of their test file (odd sizes on purpose:
// the ciphertext pads them to the AES block size).
var mediaKinds = []struct {
	kind string
	size int
}{
	{KindImage, 20_001}, {KindVideo, 150_003}, {KindAudio, 9_999}, {KindPTT, 4_097},
	{KindDocument, 33_333}, {KindSticker, 7_001},
}

// downloader is anything that can fetch a received attachment.
type downloader func(ctx context.Context, msg *waE2E.Message) ([]byte, error)

func clientDownloader(cli *whatsmeow.Client) downloader {
	return func(ctx context.Context, msg *waE2E.Message) ([]byte, error) {
		return cli.Download(ctx, Attachment(msg))
	}
}

// expectMedia waits for message id on log and checks kind and the downloaded bytes.
func expectMedia(t *testing.T, ctx context.Context, who string, log *EventLog, dl downloader, id types.MessageID, kind string, want []byte) *events.Message {
	t.Helper()
	evt, err := log.WaitMessage(ctx, idIs(id))
	if err != nil {
		t.Fatalf("%s never got %s message %s: %v", who, kind, id, err)
	}
	if got := MessageKind(evt); got != kind {
		t.Fatalf("%s got kind %q, want %q", who, got, kind)
	}
	data, err := dl(ctx, evt.Message)
	if err != nil {
		t.Fatalf("%s failed to download %s: %v", who, kind, err)
	}
	if !bytes.Equal(data, want) {
		t.Fatalf("%s downloaded %d bytes of %s that differ from the %d sent", who, len(data), kind, len(want))
	}
	return evt
}

func TestMediaRoundTrip(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Mia")
	bob := newContact(t, ctx, srv, "Bob")
	mia := pairByQR(t, ctx, srv, acct)
	phone := acct.Phone()

	for _, tc := range mediaKinds {
		data := randomBytes(tc.size)
		// Companion to contact; the account's own phone gets the device-sent copy.
		msg, err := UploadMedia(ctx, mia.cli, Media{Kind: tc.kind, Data: data, Caption: "from mia", FileName: "f.bin"})
		if err != nil {
			t.Fatalf("upload of %s failed: %v", tc.kind, err)
		}
		resp, err := mia.cli.SendMessage(ctx, bob.JID(), msg)
		if err != nil {
			t.Fatalf("send of %s failed: %v", tc.kind, err)
		}
		expectMedia(t, ctx, "contact", bob.EventLog, bob.Download, resp.ID, tc.kind, data)
		own := expectMedia(t, ctx, "own phone", phone.EventLog, phone.Download, resp.ID, tc.kind, data)
		if !own.Info.IsFromMe {
			t.Errorf("own phone's copy of %s is not marked as sent by itself", tc.kind)
		}

		// Contact to companion, and to the account's phone too.
		reply := randomBytes(tc.size + 17)
		id, err := bob.SendMedia(ctx, acct.JID(), Media{Kind: tc.kind, Data: reply})
		if err != nil {
			t.Fatalf("contact failed to send %s: %v", tc.kind, err)
		}
		expectMedia(t, ctx, "companion", mia.EventLog, clientDownloader(mia.cli), id, tc.kind, reply)
		expectMedia(t, ctx, "phone", phone.EventLog, phone.Download, id, tc.kind, reply)
	}
	if got, want := srv.MediaCount(), 2*len(mediaKinds); got != want {
		t.Errorf("server holds %d blobs, want %d", got, want)
	}
}

func TestMediaDownloadPathsAndFaults(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	bob := newContact(t, ctx, srv, "Bob")
	// Media over TLS to the media_conn hostname, as a client in another process would reach it.
	bob.Client().SetMediaHTTPClient(srv.TLSHTTPClient())
	data := randomBytes(5000)
	msg, err := UploadMedia(ctx, bob.Client(), Media{Kind: KindImage, Data: data})
	if err != nil {
		t.Fatalf("upload failed: %v", err)
	}
	img := msg.GetImageMessage()
	if !strings.HasPrefix(img.GetURL(), "https://"+MediaHost+"/v/") || !strings.Contains(img.GetDirectPath(), "?") {
		t.Fatalf("unexpected url %q / direct path %q", img.GetURL(), img.GetDirectPath())
	}

	// By URL, through both ways of reaching the simulator: the ciphertext as uploaded.
	for name, hc := range map[string]*http.Client{"rewrite": srv.HTTPClient(), "tls": srv.TLSHTTPClient()} {
		resp, err := hc.Get(img.GetURL())
		if err != nil {
			t.Fatalf("%s GET of the url failed: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if sum := sha256.Sum256(body); resp.StatusCode != http.StatusOK || !bytes.Equal(sum[:], img.GetFileEncSHA256()) {
			t.Fatalf("%s GET of the url: status %d, body hash does not match FileEncSHA256", name, resp.StatusCode)
		}
	}

	// By direct path with whatsmeow, also after a restart.
	download := func() ([]byte, error) {
		return bob.Client().DownloadMediaWithPath(ctx, img.GetDirectPath(), img.GetFileEncSHA256(), img.GetFileSHA256(),
			img.GetMediaKey(), whatsmeow.MediaImage, "image", false)
	}
	if got, err := download(); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("download by path: %v (equal=%v)", err, bytes.Equal(got, data))
	}
	if err = srv.Restart(ctx); err != nil {
		t.Fatalf("restart failed: %v", err)
	}
	if got, err := download(); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("download after restart: %v (equal=%v)", err, bytes.Equal(got, data))
	}

	// Unknown path, deleted and expired media fail the way WhatsApp's do.
	_, err = bob.Client().DownloadMediaWithPath(ctx, "/v/t62.7118-24/1_2_n.enc?ccb=11-4", img.GetFileEncSHA256(),
		img.GetFileSHA256(), img.GetMediaKey(), whatsmeow.MediaImage, "image", false)
	if !errors.Is(err, whatsmeow.ErrMediaDownloadFailedWith404) {
		t.Fatalf("unknown path gave %v, want 404", err)
	}
	if err = srv.ExpireMedia(img.GetDirectPath()); err != nil {
		t.Fatalf("ExpireMedia failed: %v", err)
	}
	if _, err = download(); !errors.Is(err, whatsmeow.ErrMediaDownloadFailedWith410) {
		t.Fatalf("expired media gave %v, want 410", err)
	}
	if err = bob.Client().DeleteMedia(ctx, whatsmeow.MediaImage, img.GetDirectPath(), img.GetFileEncSHA256(), ""); err != nil {
		t.Fatalf("DeleteMedia failed: %v", err)
	}
	if _, err = download(); !errors.Is(err, whatsmeow.ErrMediaDownloadFailedWith404) {
		t.Fatalf("deleted media gave %v, want 404", err)
	}
	if err = srv.ExpireMedia("/v/none"); !errors.Is(err, ErrNoSuchMedia) {
		t.Fatalf("ExpireMedia of an unknown path gave %v", err)
	}
}

func TestMediaUploadRejectsBadRequests(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	hc := srv.HTTPClient()
	body := []byte("ciphertext")
	sum := sha256.Sum256(body)
	token := base64.URLEncoding.EncodeToString(sum[:])
	post := func(path, query string, data []byte) int {
		t.Helper()
		resp, err := hc.Post("https://"+MediaHost+path+"?"+query, "application/octet-stream", bytes.NewReader(data))
		if err != nil {
			t.Fatalf("POST failed: %v", err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	auth := "auth=" + srv.media.auth + "&token=" + token
	cases := []struct {
		name        string
		path, query string
		data        []byte
		want        int
	}{
		{"good", "/mms/image/" + token, auth, body, http.StatusOK},
		{"no auth", "/mms/image/" + token, "token=" + token, body, http.StatusUnauthorized},
		{"wrong auth", "/mms/image/" + token, "auth=nope&token=" + token, body, http.StatusUnauthorized},
		{"hash mismatch", "/mms/image/" + token, auth, []byte("other bytes"), http.StatusBadRequest},
		{"unknown type", "/mms/hologram/" + token, auth, body, http.StatusNotFound},
	}
	for _, tc := range cases {
		if got := post(tc.path, tc.query, tc.data); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	srv.SetOutage(true)
	if got := post("/mms/image/"+token, auth, body); got != http.StatusServiceUnavailable {
		t.Errorf("upload during an outage: status %d, want 503", got)
	}
	srv.SetOutage(false)
}

func TestMediaRetryAfterExpiry(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Ida")
	bob := newContact(t, ctx, srv, "Bob")
	ida := pairByQR(t, ctx, srv, acct)

	data := randomBytes(12345)
	id, err := bob.SendMedia(ctx, acct.JID(), Media{Kind: KindVideo, Data: data})
	if err != nil {
		t.Fatalf("send failed: %v", err)
	}
	evt, err := ida.WaitMessage(ctx, idIs(id))
	if err != nil {
		t.Fatalf("video never arrived: %v", err)
	}
	video := evt.Message.GetVideoMessage()
	// The phone must have the message too before it can answer for it.
	if _, err = acct.Phone().WaitMessage(ctx, idIs(id)); err != nil {
		t.Fatalf("phone never got the video: %v", err)
	}
	if err = srv.ExpireMedia(video.GetDirectPath()); err != nil {
		t.Fatalf("ExpireMedia failed: %v", err)
	}
	if _, err = ida.cli.Download(ctx, video); !errors.Is(err, whatsmeow.ErrMediaDownloadFailedWith410) {
		t.Fatalf("expired video gave %v, want 410", err)
	}

	retryOf := func(info *types.MessageInfo) *events.MediaRetry {
		t.Helper()
		if err := ida.cli.SendMediaRetryReceipt(ctx, info, video.GetMediaKey()); err != nil {
			t.Fatalf("SendMediaRetryReceipt failed: %v", err)
		}
		got, err := ida.WaitEvent(ctx, func(evt any) bool {
			retry, ok := evt.(*events.MediaRetry)
			return ok && retry.MessageID == info.ID
		})
		if err != nil {
			t.Fatalf("no media retry answer for %s: %v", info.ID, err)
		}
		return got.(*events.MediaRetry)
	}
	notif, err := whatsmeow.DecryptMediaRetryNotification(retryOf(&evt.Info), video.GetMediaKey())
	if err != nil {
		t.Fatalf("failed to decrypt media retry answer: %v", err)
	}
	if notif.GetDirectPath() == "" || notif.GetDirectPath() == video.GetDirectPath() {
		t.Fatalf("media retry answered %v", notif)
	}
	got, err := ida.cli.DownloadMediaWithPath(ctx, notif.GetDirectPath(), video.GetFileEncSHA256(), video.GetFileSHA256(),
		video.GetMediaKey(), whatsmeow.MediaVideo, "video", false)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("download from the new path: %v (equal %v)", err, bytes.Equal(got, data))
	}

	// A message the phone never saw: not available on the phone.
	unknown := evt.Info
	unknown.ID = "3EB0000000000000000000"
	if _, err = whatsmeow.DecryptMediaRetryNotification(retryOf(&unknown), video.GetMediaKey()); !errors.Is(err, whatsmeow.ErrMediaNotAvailableOnPhone) {
		t.Fatalf("retry for an unknown message gave %v", err)
	}
}
