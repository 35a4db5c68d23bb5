package msgconv

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// DisappearingTimers are the disappearing-messages timers WhatsApp's apps offer (WhatsApp refuses
// others in groups), by the name the disappearing command takes.
var DisappearingTimers = map[string]time.Duration{
	"off": 0,
	"24h": whatsmeow.DisappearingTimer24Hours,
	"7d":  whatsmeow.DisappearingTimer7Days,
	"90d": whatsmeow.DisappearingTimer90Days,
}

// timerUnits are the units ParseDisappearingTimer takes after a whole number.
var timerUnits = map[string]time.Duration{
	"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour,
}

// ParseDisappearingTimer reads a timer as the disappearing command takes it: off, 24h, 7d or 90d
// (case-insensitive), or the same length in other words: a whole number of minutes, hours, days or
// weeks (1d, 1440m, 1w). Anything else is an error naming the choices.
func ParseDisappearingTimer(s string) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if d, ok := DisappearingTimers[s]; ok {
		return d, nil
	}
	if len(s) >= 2 {
		n, err := strconv.ParseUint(s[:len(s)-1], 10, 16)
		if unit, ok := timerUnits[s[len(s)-1:]]; ok && err == nil {
			for _, d := range DisappearingTimers {
				if d > 0 && d == time.Duration(n)*unit {
					return d, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("%q is not a disappearing-messages timer WhatsApp offers: use off, 24h, 7d or 90d", s)
}

// DescribeDisappearingTimer names a timer for people: "24 hours", "7 days", "90 days", or for other
// values WhatsApp may report the days, hours, minutes or seconds it amounts to.
func DescribeDisappearingTimer(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	}
	return plural(int64(d/time.Second), "second")
}

// DisappearingNotice is the notice of a chat's timer change: on with the timer, or off.
func DisappearingNotice(d time.Duration) string {
	if d <= 0 {
		return "Disappearing messages are off: new messages no longer disappear."
	}
	return fmt.Sprintf("Disappearing messages are on: new messages disappear from WhatsApp %s after they are sent.", DescribeDisappearingTimer(d))
}

// WithExpiration returns msg marked to disappear after d, as WhatsApp's apps mark messages in a
// chat with disappearing messages on: the context info of its content carries the expiration in
// seconds. A plain text becomes an extended text to carry it; a message whose content has no
// context info is returned as it is. msg is not modified.
func WithExpiration(msg *waE2E.Message, d time.Duration) *waE2E.Message {
	if d <= 0 || msg == nil {
		return msg
	}
	out := proto.CloneOf(msg)
	if out.Conversation != nil {
		out.ExtendedTextMessage = &waE2E.ExtendedTextMessage{Text: out.Conversation}
		out.Conversation = nil
	}
	seconds := uint32(d / time.Second)
	out.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() {
			return true
		}
		sub := v.Message()
		ciField := sub.Descriptor().Fields().ByName("contextInfo")
		if ciField == nil || ciField.Message() == nil || ciField.Message().FullName() != (&waE2E.ContextInfo{}).ProtoReflect().Descriptor().FullName() {
			return true
		}
		ci := sub.Mutable(ciField).Message().Interface().(*waE2E.ContextInfo)
		ci.Expiration = proto.Uint32(seconds)
		return false
	})
	return out
}

// ExpirationOf returns how long after sending msg disappears from WhatsApp, as its content's
// context info says (WhatsApp's apps set it on every message in a chat with disappearing messages
// on); 0 when it does not disappear.
func ExpirationOf(msg *waE2E.Message) time.Duration {
	if msg == nil {
		return 0
	}
	// Only the fields whose content can carry context info are looked at (contextInfoFields): a
	// Range over the populated fields of a Message visits each of its 100-odd fields through
	// reflection (2.6 µs alone, 6 % of the bridge's CPU in a profile on a busy machine).
	m := msg.ProtoReflect()
	for _, fd := range contextInfoFields {
		if !m.Has(fd) {
			continue
		}
		if ci, ok := m.Get(fd).Message().Interface().(interface{ GetContextInfo() *waE2E.ContextInfo }); ok {
			if exp := ci.GetContextInfo().GetExpiration(); exp > 0 {
				return time.Duration(exp) * time.Second
			}
		}
	}
	return 0
}

// contextInfoFields are the fields of waE2E.Message, in field number order, whose message type
// has a contextInfo field of type waE2E.ContextInfo.
var contextInfoFields = func() []protoreflect.FieldDescriptor {
	ciName := (&waE2E.ContextInfo{}).ProtoReflect().Descriptor().FullName()
	fields := (&waE2E.Message{}).ProtoReflect().Descriptor().Fields()
	var out []protoreflect.FieldDescriptor
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() {
			continue
		}
		if ci := fd.Message().Fields().ByName("contextInfo"); ci != nil && ci.Message() != nil && ci.Message().FullName() == ciName {
			out = append(out, fd)
		}
	}
	return out
}()
