package chatexport

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

var (
	// ErrCorrupt means the .zip cannot be read (truncated, damaged, a checksum mismatch).
	ErrCorrupt = errors.New("the archive is damaged")
	// ErrNoChat means the .zip holds no chat text (_chat.txt or "WhatsApp Chat with ....txt").
	ErrNoChat = errors.New("the archive holds no WhatsApp chat text")
	// ErrTooLarge means the archive, its unpacked content or its number of files is over Limits.
	ErrTooLarge = errors.New("the archive is too large")
	// ErrFileMissing means a file the chat text names is not in the archive.
	ErrFileMissing = errors.New("the file is not in the archive")
	// ErrEmpty means the upload, or the chat text in the archive, holds nothing (or only white
	// space), as an export cut off while uploading or saving may.
	ErrEmpty = errors.New("the file is empty")
)

// Limits bound what OpenArchive accepts. Zero or negative fields mean no limit.
type Limits struct {
	// MaxBytes is the largest archive (the .zip or .txt as uploaded), in bytes.
	MaxBytes int64
	// MaxUnpackedBytes is the most a .zip may unpack to, in bytes, counting the chat text and
	// every media file read. It is checked against both the sizes the .zip declares and the bytes
	// actually unpacked, so a zip bomb stops at the limit.
	MaxUnpackedBytes int64
	// MaxFiles is the most entries a .zip may have.
	MaxFiles int
}

// Archive is an opened export: its chat text and, for a .zip, its media files.
type Archive struct {
	// ChatFile is the name of the chat text inside a .zip ("" for a plain .txt).
	ChatFile string
	// Text is the chat text, without a byte order mark.
	Text string
	// Digest is the SHA-256 of the chat text, hex.
	Digest string

	files    map[string]*zip.File // by base name
	limits   Limits
	unpacked int64
}

// OpenArchive opens an uploaded export: a .zip (recognised by its signature, whatever its name)
// or plain UTF-8 text. Media files are unpacked only when ReadFile asks for them. Errors wrap
// ErrTooLarge, ErrCorrupt, ErrNoChat or ErrUnknownFormat.
func OpenArchive(data []byte, limits Limits) (*Archive, error) {
	if limits.MaxBytes > 0 && int64(len(data)) > limits.MaxBytes {
		return nil, fmt.Errorf("%w: %s, the limit is %s", ErrTooLarge, FormatBytes(int64(len(data))), FormatBytes(limits.MaxBytes))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, ErrEmpty
	}
	a := &Archive{limits: limits}
	if !bytes.HasPrefix(data, []byte("PK\x03\x04")) && !bytes.HasPrefix(data, []byte("PK\x05\x06")) {
		if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
			return nil, fmt.Errorf("%w: neither a .zip nor chat text", ErrUnknownFormat)
		}
		a.setText(data)
		return a, nil
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if limits.MaxFiles > 0 && len(zr.File) > limits.MaxFiles {
		return nil, fmt.Errorf("%w: %d files, the limit is %d", ErrTooLarge, len(zr.File), limits.MaxFiles)
	}
	var declared uint64
	a.files = make(map[string]*zip.File, len(zr.File))
	var texts []*zip.File
	for _, f := range zr.File {
		declared += f.UncompressedSize64
		if f.FileInfo().IsDir() {
			continue
		}
		base := path.Base(f.Name)
		a.files[base] = f
		if strings.EqualFold(path.Ext(base), ".txt") {
			texts = append(texts, f)
		}
	}
	if limits.MaxUnpackedBytes > 0 && declared > uint64(limits.MaxUnpackedBytes) {
		return nil, fmt.Errorf("%w: it unpacks to %s, the limit is %s", ErrTooLarge, FormatBytes(int64(min(declared, 1<<62))), FormatBytes(limits.MaxUnpackedBytes))
	}
	chat := pickChatText(texts)
	if chat == nil {
		return nil, ErrNoChat
	}
	text, err := a.read(chat)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(text) {
		return nil, fmt.Errorf("%w: %s is not UTF-8 text", ErrUnknownFormat, chat.Name)
	}
	a.ChatFile = chat.Name
	a.setText(text)
	return a, nil
}

// pickChatText finds the chat text among the .txt files of a .zip: iOS names it _chat.txt,
// Android "WhatsApp Chat with <name>.txt" (localised); a lone .txt is taken whatever its name.
func pickChatText(texts []*zip.File) *zip.File {
	for _, f := range texts {
		if path.Base(f.Name) == "_chat.txt" {
			return f
		}
	}
	if len(texts) == 1 {
		return texts[0]
	}
	var found *zip.File
	for _, f := range texts {
		if strings.HasPrefix(path.Base(f.Name), "WhatsApp") {
			if found != nil {
				return nil
			}
			found = f
		}
	}
	return found
}

func (a *Archive) setText(data []byte) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	sum := sha256.Sum256(data)
	a.Text, a.Digest = string(data), hex.EncodeToString(sum[:])
}

// HasFile reports whether the archive holds a file of that name (matched by base name).
func (a *Archive) HasFile(name string) bool {
	_, ok := a.files[path.Base(name)]
	return ok
}

// ReadFile unpacks a media file named in the chat text. It fails with ErrFileMissing when the
// archive does not hold it, ErrTooLarge when the unpacked total would exceed the limit, and
// ErrCorrupt when the entry is damaged.
func (a *Archive) ReadFile(name string) ([]byte, error) {
	f, ok := a.files[path.Base(name)]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrFileMissing, name)
	}
	return a.read(f)
}

func (a *Archive) read(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Name, err)
	}
	defer rc.Close()
	var r io.Reader = rc
	if a.limits.MaxUnpackedBytes > 0 {
		r = io.LimitReader(rc, a.limits.MaxUnpackedBytes-a.unpacked+1)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Name, err)
	}
	a.unpacked += int64(len(data))
	if a.limits.MaxUnpackedBytes > 0 && a.unpacked > a.limits.MaxUnpackedBytes {
		return nil, fmt.Errorf("%w: it unpacks to more than %s", ErrTooLarge, FormatBytes(a.limits.MaxUnpackedBytes))
	}
	return data, nil
}

// FormatBytes writes a size for people: "512 bytes", "3.2 MiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
