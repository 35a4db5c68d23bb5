package puppet_test

import (
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// Ghost user IDs follow bridge.username_template: phone digits for contacts with a known number,
// "lid-" and the LID digits for contacts known only by LID.
func ExampleManager_MXIDFor() {
	cfg := testConfig("http://127.0.0.1:8008", "whatsapp_{{.}}")
	m := puppet.NewManager(cfg, nil, nil, zerolog.Nop())
	fmt.Println(m.MXIDFor(types.NewADJID("4915112345678", 0, 3)))
	fmt.Println(m.MXIDFor(types.NewJID("123456789012345", types.HiddenUserServer)))
	jid, ok := m.ParseMXID("@whatsapp_lid-123456789012345:example.org")
	fmt.Println(jid, ok)
	name, source := m.RenderName(types.NewJID("123456789012345", types.HiddenUserServer), puppet.ContactInfo{})
	fmt.Println(name, source)
	// Output:
	// @whatsapp_4915112345678:example.org
	// @whatsapp_lid-123456789012345:example.org
	// 123456789012345@lid true
	// WhatsApp user …2345 (WA) fallback
}
