package chatexport

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strconv"
	"strings"
)

// Keys gives each message a stable key: a hash of its time, sender, kind, text and attachment,
// plus how many identical messages came before it. The key does not depend on line numbers or on
// other messages, so the same message in a later, longer export of the chat has the same key.
// Keys are 32 hex digits.
func Keys(msgs []Message) []string {
	keys := make([]string, len(msgs))
	seen := map[string]int{}
	for i, m := range msgs {
		h := sha256.New()
		for _, part := range []string{strconv.FormatInt(m.Time.Unix(), 10), m.Sender, m.Kind.String(), m.Text, m.Attachment} {
			h.Write([]byte(part))
			h.Write([]byte{0})
		}
		base := hex.EncodeToString(h.Sum(nil)[:16])
		n := seen[base]
		seen[base] = n + 1
		if n > 0 {
			h.Write([]byte(strconv.Itoa(n)))
			base = hex.EncodeToString(h.Sum(nil)[:16])
		}
		keys[i] = base
	}
	return keys
}

// MediaKind is what an attachment is, judged by its file name: "image", "video", "audio",
// "sticker" or "file", with its MIME type ("application/octet-stream" when unknown).
func MediaKind(name string) (kind, mimeType string) {
	switch strings.ToLower(path.Ext(name)) {
	case ".jpg", ".jpeg":
		return "image", "image/jpeg"
	case ".png":
		return "image", "image/png"
	case ".gif":
		return "image", "image/gif"
	case ".webp":
		return "sticker", "image/webp"
	case ".mp4":
		return "video", "video/mp4"
	case ".3gp":
		return "video", "video/3gpp"
	case ".mov":
		return "video", "video/quicktime"
	case ".opus", ".ogg":
		return "audio", "audio/ogg"
	case ".m4a", ".aac":
		return "audio", "audio/mp4"
	case ".mp3":
		return "audio", "audio/mpeg"
	case ".pdf":
		return "file", "application/pdf"
	case ".vcf":
		return "file", "text/vcard"
	case ".txt":
		return "file", "text/plain"
	}
	return "file", "application/octet-stream"
}
