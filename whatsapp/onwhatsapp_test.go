package whatsapp

import (
	"errors"
	"testing"

	"go.mau.fi/whatsmeow/types"
)

func TestOnWhatsAppJID(t *testing.T) {
	pn := types.NewJID("4917600000002", types.DefaultUserServer)
	lid := types.NewJID("123456789012345", types.HiddenUserServer)
	tests := []struct {
		name    string
		resp    []types.IsOnWhatsAppResponse
		want    types.JID
		wantErr bool
	}{
		{"registered, LID addressing", []types.IsOnWhatsAppResponse{{Query: "+4917600000002", JID: lid, PhoneNumber: pn, IsIn: true}}, pn, false},
		{"registered, phone addressing", []types.IsOnWhatsAppResponse{{Query: "+4917600000002", JID: pn, IsIn: true}}, pn, false},
		{"answered out", []types.IsOnWhatsAppResponse{{Query: "+4917600000002", JID: pn, IsIn: false}}, types.EmptyJID, true},
		{"not listed", nil, types.EmptyJID, true},
		{"only another number listed", []types.IsOnWhatsAppResponse{{Query: "+4917600000009", JID: lid, PhoneNumber: pn, IsIn: true}}, types.EmptyJID, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := onWhatsAppJID(tt.resp, "4917600000002")
			if tt.wantErr != errors.Is(err, ErrNotOnWhatsApp) || got != tt.want {
				t.Fatalf("got %v, %v; want %v, not-on-WhatsApp error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
