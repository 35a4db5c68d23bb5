package wasim

import (
	"context"
	"sync"

	"go.mau.fi/whatsmeow/types/events"
)

// EventLog records every event a whatsmeow client dispatches so tests can wait for them. Register
// its Add method with Client.AddEventHandler.
type EventLog struct {
	lock    sync.Mutex
	events  []any
	changed chan struct{}
}

// NewEventLog returns an empty log.
func NewEventLog() *EventLog {
	return &EventLog{changed: make(chan struct{})}
}

// Add records evt. It has the signature of a whatsmeow event handler.
func (l *EventLog) Add(evt any) {
	l.lock.Lock()
	l.events = append(l.events, evt)
	close(l.changed)
	l.changed = make(chan struct{})
	l.lock.Unlock()
}

// All returns a copy of every event recorded so far.
func (l *EventLog) All() []any {
	l.lock.Lock()
	defer l.lock.Unlock()
	return append([]any(nil), l.events...)
}

// Count returns how many recorded events match.
func (l *EventLog) Count(match func(any) bool) int {
	n := 0
	for _, evt := range l.All() {
		if match(evt) {
			n++
		}
	}
	return n
}

// WaitEvent returns the first recorded event that matches, waiting for one until ctx ends. Events
// recorded before the call count too.
func (l *EventLog) WaitEvent(ctx context.Context, match func(any) bool) (any, error) {
	seen := 0
	for {
		l.lock.Lock()
		pending := l.events[seen:]
		changed := l.changed
		seen = len(l.events)
		l.lock.Unlock()
		for _, evt := range pending {
			if match(evt) {
				return evt, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

// WaitMessage waits for an events.Message that matches.
func (l *EventLog) WaitMessage(ctx context.Context, match func(*events.Message) bool) (*events.Message, error) {
	evt, err := l.WaitEvent(ctx, func(evt any) bool {
		msg, ok := evt.(*events.Message)
		return ok && (match == nil || match(msg))
	})
	if err != nil {
		return nil, err
	}
	return evt.(*events.Message), nil
}

// MessageText returns the plain text of a message event (conversation or extended text), or "".
func MessageText(msg *events.Message) string {
	if msg == nil || msg.Message == nil {
		return ""
	}
	if text := msg.Message.GetConversation(); text != "" {
		return text
	}
	return msg.Message.GetExtendedTextMessage().GetText()
}
