package chatexport_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/chatexport"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/exportgen"
)

var testLimits = chatexport.Limits{MaxBytes: 1 << 20, MaxUnpackedBytes: 4 << 20, MaxFiles: 20}

func TestOpenArchive(t *testing.T) {
	t.Parallel()
	photo := bytes.Repeat([]byte("jpeg "), 100)
	for _, style := range []exportgen.Style{exportgen.StyleNamed("android-uk"), exportgen.StyleNamed("ios-us")} {
		t.Run(style.Name, func(t *testing.T) {
			text := exportgen.Text(style, "Carol", conversation(time.UTC), true)
			zipped := exportgen.Zip(style, "Carol", text, map[string][]byte{"IMG-20231213-WA0001.jpg": photo})
			a, err := chatexport.OpenArchive(zipped, testLimits)
			if err != nil {
				t.Fatal(err)
			}
			if a.Text != text {
				t.Errorf("chat text from %s differs", a.ChatFile)
			}
			if got, err := a.ReadFile("IMG-20231213-WA0001.jpg"); err != nil || !bytes.Equal(got, photo) {
				t.Errorf("photo: %v", err)
			}
			if _, err := a.ReadFile("PTT-20231224-WA0002.opus"); !errors.Is(err, chatexport.ErrFileMissing) {
				t.Errorf("a file the export left out: err = %v, want ErrFileMissing", err)
			}
			plain, err := chatexport.OpenArchive([]byte("\ufeff"+text), testLimits)
			if err != nil || plain.Text != text || plain.Digest != a.Digest {
				t.Errorf("plain text: %v, same digest %v", err, plain != nil && plain.Digest == a.Digest)
			}
		})
	}
}

func TestOpenArchiveRefuses(t *testing.T) {
	t.Parallel()
	style := exportgen.StyleNamed("android-de")
	text := exportgen.Text(style, "Carol", conversation(time.UTC), true)
	good := exportgen.Zip(style, "Carol", text, map[string][]byte{"IMG-20231213-WA0001.jpg": bytes.Repeat([]byte{1}, 5000)})
	many := map[string][]byte{"_chat.txt": []byte(text)}
	for i := range 30 {
		many[string(rune('a'+i))+".jpg"] = []byte{1}
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"truncated zip", exportgen.Truncated(good), chatexport.ErrCorrupt},
		{"zip without chat", exportgen.ZipFiles(map[string][]byte{"photo.jpg": {1, 2}}), chatexport.ErrNoChat},
		{"binary", []byte{0x89, 'P', 'N', 'G', 0, 0, 0xff}, chatexport.ErrUnknownFormat},
		{"too large", bytes.Repeat([]byte("a"), int(testLimits.MaxBytes)+1), chatexport.ErrTooLarge},
		{"zip bomb", exportgen.Bomb(style, text, 64<<20), chatexport.ErrTooLarge},
		{"too many files", exportgen.ZipFiles(many), chatexport.ErrTooLarge},
		{"empty", nil, chatexport.ErrEmpty},
		{"only line breaks", []byte("\r\n\n  \n"), chatexport.ErrEmpty},
	}
	for _, tt := range tests {
		if _, err := chatexport.OpenArchive(tt.data, testLimits); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	// A .zip whose chat text is empty.
	a, err := chatexport.OpenArchive(exportgen.ZipFiles(map[string][]byte{"_chat.txt": {}}), testLimits)
	if err == nil {
		_, err = chatexport.Parse(a.Text, time.UTC)
	}
	if !errors.Is(err, chatexport.ErrEmpty) {
		t.Errorf("zip with an empty chat text: err = %v, want %v", err, chatexport.ErrEmpty)
	}
}

// TestReadFileStopsAtLimit: a .zip whose declared sizes lie is stopped by the bytes actually
// unpacked.
func TestReadFileStopsAtLimit(t *testing.T) {
	t.Parallel()
	style := exportgen.StyleNamed("ios-uk")
	text := exportgen.Text(style, "Carol", conversation(time.UTC), true)
	data := exportgen.Zip(style, "Carol", text, map[string][]byte{"IMG-20231213-WA0001.jpg": make([]byte, 3<<20)})
	a, err := chatexport.OpenArchive(data, chatexport.Limits{MaxUnpackedBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = a.ReadFile("IMG-20231213-WA0001.jpg"); err != nil {
		t.Fatal(err)
	}
	if _, err = a.ReadFile("IMG-20231213-WA0001.jpg"); !errors.Is(err, chatexport.ErrTooLarge) {
		t.Errorf("second read past the limit: err = %v, want ErrTooLarge", err)
	}
}
