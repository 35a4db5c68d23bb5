package whatsapp

import (
	"encoding/json"
	"errors"
	"fmt"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waVnameCert"
	"go.mau.fi/whatsmeow/proto/waWeb"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// The stored form of the WhatsApp events the bridge keeps in its inbox until they are bridged.
//
// Each event is stored as (kind, version, payload): kind names the whatsmeow event type, version
// the layout of payload, a JSON object. Protobuf messages inside it are proto.Marshal'ed (JSON
// carries them as base64), so that they survive a change of the generated Go types; everything
// else (MessageInfo, JIDs as their string form, times as RFC 3339) is plain JSON. A reader must
// refuse versions it does not know (DecodeEvent does) rather than guess.

// The event kinds EncodeEvent stores.
const (
	EventKindMessage       = "message"
	EventKindUndecryptable = "undecryptable"
	EventKindReceipt       = "receipt"
	EventKindGroupInfo     = "group_info"
	EventKindJoinedGroup   = "joined_group"
)

// EventCodecVersion is the payload layout EncodeEvent writes.
const EventCodecVersion = 1

// ErrUnknownEventForm is returned by DecodeEvent for a kind or version it cannot read.
var ErrUnknownEventForm = errors.New("unknown stored WhatsApp event form")

// storedInfo is a MessageInfo with the verified business name certificate taken out of the JSON
// (it holds protobuf messages) and stored as protobuf bytes.
type storedInfo struct {
	types.MessageInfo
	VerifiedCert    []byte `json:"verified_cert,omitempty"`
	VerifiedDetails []byte `json:"verified_details,omitempty"`
}

func toStoredInfo(info types.MessageInfo) (storedInfo, error) {
	out := storedInfo{MessageInfo: info}
	if vn := info.VerifiedName; vn != nil {
		plain := *vn
		var err error
		if out.VerifiedCert, err = marshalProto(vn.Certificate); err != nil {
			return out, err
		}
		if out.VerifiedDetails, err = marshalProto(vn.Details); err != nil {
			return out, err
		}
		plain.Certificate, plain.Details = nil, nil
		out.VerifiedName = &plain
	}
	return out, nil
}

func (s storedInfo) info() (types.MessageInfo, error) {
	info := s.MessageInfo
	if info.VerifiedName != nil {
		vn := *info.VerifiedName
		if len(s.VerifiedCert) > 0 {
			vn.Certificate = &waVnameCert.VerifiedNameCertificate{}
			if err := proto.Unmarshal(s.VerifiedCert, vn.Certificate); err != nil {
				return info, fmt.Errorf("failed to read verified name certificate: %w", err)
			}
		}
		if len(s.VerifiedDetails) > 0 {
			vn.Details = &waVnameCert.VerifiedNameCertificate_Details{}
			if err := proto.Unmarshal(s.VerifiedDetails, vn.Details); err != nil {
				return info, fmt.Errorf("failed to read verified name details: %w", err)
			}
		}
		info.VerifiedName = &vn
	}
	return info, nil
}

// storedMessage is events.Message (NewsletterMeta is not kept: newsletters have no portals).
type storedMessage struct {
	Info       storedInfo `json:"info"`
	Message    []byte     `json:"message"`
	RawMessage []byte     `json:"raw_message,omitempty"`
	// RawIsMessage says that RawMessage was Message itself (a message without wrappers, the
	// common case: whatsmeow's UnwrapRaw leaves one pointer in both), stored once.
	RawIsMessage          bool            `json:"raw_is_message,omitempty"`
	SourceWebMsg          []byte          `json:"source_web_msg"`
	IsEphemeral           bool            `json:"is_ephemeral,omitempty"`
	IsViewOnce            bool            `json:"is_view_once,omitempty"`
	IsViewOnceV2          bool            `json:"is_view_once_v2,omitempty"`
	IsViewOnceV2Extension bool            `json:"is_view_once_v2_extension,omitempty"`
	IsDocumentWithCaption bool            `json:"is_document_with_caption,omitempty"`
	IsLottieSticker       bool            `json:"is_lottie_sticker,omitempty"`
	IsBotInvoke           bool            `json:"is_bot_invoke,omitempty"`
	IsEdit                bool            `json:"is_edit,omitempty"`
	UnavailableRequestID  types.MessageID `json:"unavailable_request_id,omitempty"`
	RetryCount            int             `json:"retry_count,omitempty"`
}

// storedUndecryptable is events.UndecryptableMessage.
type storedUndecryptable struct {
	Info            storedInfo             `json:"info"`
	IsUnavailable   bool                   `json:"is_unavailable,omitempty"`
	UnavailableType events.UnavailableType `json:"unavailable_type,omitempty"`
	DecryptFailMode events.DecryptFailMode `json:"decrypt_fail_mode,omitempty"`
}

// EncodeEvent returns the stored form of a WhatsApp event: its kind, the layout version and the
// payload. It accepts *events.Message, *events.UndecryptableMessage, *events.Receipt,
// *events.GroupInfo and *events.JoinedGroup; group changes whatsmeow could not parse
// (UnknownChanges, raw XML nodes) are left out. Any other type is an error.
func EncodeEvent(evt any) (kind string, version int, payload []byte, err error) {
	var value any
	switch evt := evt.(type) {
	case *events.Message:
		kind = EventKindMessage
		stored := storedMessage{
			IsEphemeral: evt.IsEphemeral, IsViewOnce: evt.IsViewOnce, IsViewOnceV2: evt.IsViewOnceV2,
			IsViewOnceV2Extension: evt.IsViewOnceV2Extension, IsDocumentWithCaption: evt.IsDocumentWithCaption,
			IsLottieSticker: evt.IsLottieSticker, IsBotInvoke: evt.IsBotInvoke, IsEdit: evt.IsEdit,
			UnavailableRequestID: evt.UnavailableRequestID, RetryCount: evt.RetryCount,
		}
		if stored.Info, err = toStoredInfo(evt.Info); err != nil {
			return kind, 0, nil, err
		}
		if stored.Message, err = marshalProto(evt.Message); err != nil {
			return kind, 0, nil, err
		}
		if evt.RawMessage != nil && evt.RawMessage == evt.Message {
			stored.RawIsMessage = true
		} else if stored.RawMessage, err = marshalProto(evt.RawMessage); err != nil {
			return kind, 0, nil, err
		}
		if stored.SourceWebMsg, err = marshalProto(evt.SourceWebMsg); err != nil {
			return kind, 0, nil, err
		}
		value = &stored
	case *events.UndecryptableMessage:
		kind = EventKindUndecryptable
		stored := storedUndecryptable{IsUnavailable: evt.IsUnavailable, UnavailableType: evt.UnavailableType, DecryptFailMode: evt.DecryptFailMode}
		if stored.Info, err = toStoredInfo(evt.Info); err != nil {
			return kind, 0, nil, err
		}
		value = &stored
	case *events.Receipt:
		kind, value = EventKindReceipt, evt
	case *events.GroupInfo:
		plain := *evt
		plain.UnknownChanges = nil
		kind, value = EventKindGroupInfo, &plain
	case *events.JoinedGroup:
		kind, value = EventKindJoinedGroup, evt
	default:
		return "", 0, nil, fmt.Errorf("%w: cannot store %T", ErrUnknownEventForm, evt)
	}
	if payload, err = json.Marshal(value); err != nil {
		return kind, 0, nil, fmt.Errorf("failed to serialise WhatsApp %s event: %w", kind, err)
	}
	return kind, EventCodecVersion, payload, nil
}

// DecodeEvent reads an event stored by EncodeEvent. It fails with ErrUnknownEventForm for a kind
// or version it does not know, and with a descriptive error for a payload that does not parse.
func DecodeEvent(kind string, version int, payload []byte) (any, error) {
	if version != EventCodecVersion {
		return nil, fmt.Errorf("%w: %s version %d", ErrUnknownEventForm, kind, version)
	}
	var err error
	switch kind {
	case EventKindMessage:
		var stored storedMessage
		if err = json.Unmarshal(payload, &stored); err != nil {
			break
		}
		evt := &events.Message{
			IsEphemeral: stored.IsEphemeral, IsViewOnce: stored.IsViewOnce, IsViewOnceV2: stored.IsViewOnceV2,
			IsViewOnceV2Extension: stored.IsViewOnceV2Extension, IsDocumentWithCaption: stored.IsDocumentWithCaption,
			IsLottieSticker: stored.IsLottieSticker, IsBotInvoke: stored.IsBotInvoke, IsEdit: stored.IsEdit,
			UnavailableRequestID: stored.UnavailableRequestID, RetryCount: stored.RetryCount,
		}
		if evt.Info, err = stored.Info.info(); err != nil {
			break
		}
		if evt.Message, err = unmarshalProto[waE2E.Message](stored.Message); err != nil {
			break
		}
		if stored.RawIsMessage {
			evt.RawMessage = evt.Message
		} else if evt.RawMessage, err = unmarshalProto[waE2E.Message](stored.RawMessage); err != nil {
			break
		}
		if evt.SourceWebMsg, err = unmarshalProto[waWeb.WebMessageInfo](stored.SourceWebMsg); err != nil {
			break
		}
		return evt, nil
	case EventKindUndecryptable:
		var stored storedUndecryptable
		if err = json.Unmarshal(payload, &stored); err != nil {
			break
		}
		evt := &events.UndecryptableMessage{IsUnavailable: stored.IsUnavailable, UnavailableType: stored.UnavailableType, DecryptFailMode: stored.DecryptFailMode}
		if evt.Info, err = stored.Info.info(); err != nil {
			break
		}
		return evt, nil
	case EventKindReceipt:
		var evt events.Receipt
		if err = json.Unmarshal(payload, &evt); err == nil {
			return &evt, nil
		}
	case EventKindGroupInfo:
		var evt events.GroupInfo
		if err = json.Unmarshal(payload, &evt); err == nil {
			return &evt, nil
		}
	case EventKindJoinedGroup:
		var evt events.JoinedGroup
		if err = json.Unmarshal(payload, &evt); err == nil {
			return &evt, nil
		}
	default:
		return nil, fmt.Errorf("%w: kind %q", ErrUnknownEventForm, kind)
	}
	return nil, fmt.Errorf("failed to read stored WhatsApp %s event: %w", kind, err)
}

// marshalProto is proto.Marshal that keeps nil as nil and an empty message as empty bytes.
func marshalProto(msg proto.Message) ([]byte, error) {
	if msg == nil || !msg.ProtoReflect().IsValid() {
		return nil, nil
	}
	data, err := proto.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("failed to serialise %T: %w", msg, err)
	}
	if data == nil {
		data = []byte{} // an empty message, not none
	}
	return data, nil
}

// unmarshalProto reads data into a new T; no data gives nil.
func unmarshalProto[T any, P interface {
	*T
	proto.Message
}](data []byte) (P, error) {
	if data == nil {
		return nil, nil
	}
	msg := P(new(T))
	if err := proto.Unmarshal(data, msg); err != nil {
		return nil, fmt.Errorf("failed to read %T: %w", msg, err)
	}
	return msg, nil
}
