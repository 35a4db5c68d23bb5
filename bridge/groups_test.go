package bridge

import "testing"

func TestParseInviteLink(t *testing.T) {
	for in, want := range map[string]string{
		"https://chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv":          "AbCdEfGhIjKlMnOpQrStUv",
		"  chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv/ ":              "AbCdEfGhIjKlMnOpQrStUv",
		"http://chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv?utm=x":     "AbCdEfGhIjKlMnOpQrStUv",
		"https://chat.whatsapp.com/invite/AbCdEfGhIjKlMnOpQrStUv":   "AbCdEfGhIjKlMnOpQrStUv",
		"https://chat.whatsapp.com/":                                "",
		"https://example.org/AbCdEfGhIjKlMnOpQrStUv":                "",
		"AbCdEfGhIjKlMnOpQrStUv":                                    "",
		"https://chat.whatsapp.com/AbCd/../../etc":                  "",
		"https://chat.whatsapp.com.evil.example/AbCdEfGhIjKlMnOpQr": "",
	} {
		code, ok := parseInviteLink(in)
		if ok != (want != "") || (ok && code != want) {
			t.Errorf("parseInviteLink(%q) = %q, %v; want %q", in, code, ok, want)
		}
	}
}
