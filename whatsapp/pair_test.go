package whatsapp

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
)

// testFlow is a PairFlow fed by a hand-filled QR channel.
type testFlow struct {
	*PairFlow
	items    chan whatsmeow.QRChannelItem
	requests int
	aborted  int
}

func newTestFlow(t *testing.T, phone string, codeErr error) *testFlow {
	t.Helper()
	tf := &testFlow{items: make(chan whatsmeow.QRChannelItem, 8)}
	requestCode := func(_ context.Context, p string) (string, error) {
		tf.requests++
		if p != phone {
			t.Errorf("pairing code requested for %q, want %q", p, phone)
		}
		return "ABCD-EFGH", codeErr
	}
	finish := func(context.Context) (Step, error) {
		return Step{Kind: StepSuccess, JID: types.NewADJID("4915112345678", 0, 5), LID: types.NewJID("123", types.HiddenUserServer)}, nil
	}
	tf.PairFlow = newPairFlow(context.Background(), tf.items, phone, requestCode, finish, func() { tf.aborted++ })
	return tf
}

func TestPairFlowSteps(t *testing.T) {
	code := func(c string) whatsmeow.QRChannelItem {
		return whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: c}
	}
	tests := []struct {
		name    string
		phone   string
		codeErr error
		items   []whatsmeow.QRChannelItem
		want    []StepKind
		wantErr string
		// wantDeadline: the failure wraps context.DeadlineExceeded (shown as a timeout).
		wantDeadline bool
	}{
		{name: "QR codes rotate, then success", items: []whatsmeow.QRChannelItem{code("qr1"), code("qr2"), whatsmeow.QRChannelSuccess},
			want: []StepKind{StepQR, StepQR, StepSuccess}},
		{name: "pairing code asked once", phone: "4915112345678", items: []whatsmeow.QRChannelItem{code("qr1"), code("qr2"), whatsmeow.QRChannelSuccess},
			want: []StepKind{StepPairCode, StepSuccess}},
		{name: "pairing code refused", phone: "4915112345678", codeErr: errors.New("rate limited"), items: []whatsmeow.QRChannelItem{code("qr1")},
			want: []StepKind{StepFailed}, wantErr: "failed to request a pairing code: rate limited"},
		{name: "codes expired", items: []whatsmeow.QRChannelItem{code("qr1"), whatsmeow.QRChannelTimeout},
			want: []StepKind{StepQR, StepFailed}, wantErr: "context deadline exceeded: the QR codes expired", wantDeadline: true},
		{name: "error item", items: []whatsmeow.QRChannelItem{{Event: whatsmeow.QRChannelEventError, Error: errors.New("bad pairing")}},
			want: []StepKind{StepFailed}, wantErr: "pairing failed: bad pairing"},
		{name: "unexpected item", items: []whatsmeow.QRChannelItem{whatsmeow.QRChannelErrUnexpectedEvent},
			want: []StepKind{StepFailed}, wantErr: "pairing failed: err-unexpected-state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := newTestFlow(t, tt.phone, tt.codeErr)
			for _, item := range tt.items {
				tf.items <- item
			}
			var steps []Step
			for range tt.want {
				step, err := tf.Next(context.Background())
				if (err != nil) != (step.Kind == StepFailed) || !errors.Is(err, step.Err) {
					t.Fatalf("step %+v came with error %v", step, err)
				}
				steps = append(steps, step)
			}
			for i, step := range steps {
				if step.Kind != tt.want[i] {
					t.Fatalf("step %d is %v, want %v (all: %+v)", i, step.Kind, tt.want[i], steps)
				}
			}
			last := steps[len(steps)-1]
			switch last.Kind {
			case StepFailed:
				if last.Err.Error() != tt.wantErr {
					t.Errorf("failure %q, want %q", last.Err, tt.wantErr)
				}
				if errors.Is(last.Err, context.DeadlineExceeded) != tt.wantDeadline {
					t.Errorf("failure %q: wraps the deadline = %v, want %v", last.Err, !tt.wantDeadline, tt.wantDeadline)
				}
				if tf.aborted != 1 {
					t.Errorf("device dropped %d times after the failure, want once", tf.aborted)
				}
			case StepSuccess:
				if last.JID.User != "4915112345678" || last.LID.User != "123" {
					t.Errorf("success step %+v", last)
				}
				tf.Cancel()
				if tf.aborted != 0 {
					t.Error("Cancel after success dropped the paired device")
				}
			}
			if steps[0].Kind == StepQR && steps[0].Code != "qr1" {
				t.Errorf("QR step code %q, want qr1", steps[0].Code)
			}
			if steps[0].Kind == StepPairCode && (steps[0].Code != "ABCD-EFGH" || tf.requests != 1) {
				t.Errorf("pairing code step %+v after %d requests", steps[0], tf.requests)
			}
			if _, err := tf.Next(context.Background()); err == nil {
				t.Error("Next after the end of the flow did not fail")
			}
		})
	}
}

func TestPairFlowEnds(t *testing.T) {
	t.Run("channel closed", func(t *testing.T) {
		tf := newTestFlow(t, "", nil)
		close(tf.items)
		if _, err := tf.Next(context.Background()); err == nil || err.Error() != "the connection closed before pairing finished" {
			t.Errorf("error %v", err)
		}
	})
	t.Run("cancel while waiting", func(t *testing.T) {
		tf := newTestFlow(t, "", nil)
		time.AfterFunc(10*time.Millisecond, tf.Cancel)
		step, err := tf.Next(context.Background())
		if step.Kind != StepFailed || !errors.Is(err, context.Canceled) {
			t.Errorf("step %+v, error %v; want a failure wrapping context.Canceled", step, err)
		}
		if tf.aborted != 1 {
			t.Errorf("device dropped %d times, want once", tf.aborted)
		}
	})
	t.Run("caller's deadline", func(t *testing.T) {
		tf := newTestFlow(t, "", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if _, err := tf.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want the deadline", err)
		}
	})
}
