package capture

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

// slowWriter takes delay to write, or forever with a nil release.
type slowWriter struct {
	delay   time.Duration
	release chan struct{}
}

func (w slowWriter) Write(b []byte) (int, error) {
	if w.release != nil {
		<-w.release
	} else {
		time.Sleep(w.delay)
	}
	return len(b), nil
}

// TestInterruptibleWrite: after the interrupt, a write that ends soon
// (to a file, as finishing an empty pcapng writes its interface block)
// is let end, where it was given up on at once and raced the output's
// close; one blocked on a reader that stopped is given up after
// writeGrace, and every later one fails at once.
func TestInterruptibleWrite(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := &interruptible{ctx: ctx, out: slowWriter{delay: 20 * time.Millisecond}}
	if n, err := w.Write([]byte("block")); n != 5 || err != nil {
		t.Errorf("a write ending soon after the interrupt: %d, %v; want it written", n, err)
	}
	release := make(chan struct{})
	defer close(release)
	w = &interruptible{ctx: ctx, out: slowWriter{release: release}}
	start := time.Now()
	if _, err := w.Write([]byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("a blocked write after the interrupt: %v, want it given up", err)
	}
	if took := time.Since(start); took < writeGrace {
		t.Errorf("a blocked write given up after %v, before writeGrace", took)
	}
	start = time.Now()
	if _, err := w.Write([]byte("y")); !errors.Is(err, context.Canceled) || time.Since(start) > writeGrace/2 {
		t.Errorf("a write after one given up: %v after %v, want it refused at once", err, time.Since(start))
	}
}

// TestReplacedWhy: the reason a replaced rule left the capture is what
// the rule does now against the verdicts the capture selects.
func TestReplacedWhy(t *testing.T) {
	for _, c := range []struct {
		action     string
		pass, drop bool
		want       string
	}{
		{"pass", false, true, "rule 3 passes the frames it decides now (it was replaced), and only drops are selected"},
		{"drop", true, false, "rule 3 drops the frames it decides now (it was replaced), and only passes are selected"},
		{"drop", false, true, "rule 3 was replaced, its action changed (and back): it is no longer captured"},
	} {
		f := loader.CaptureFilter{Pass: c.pass, Drop: c.drop}
		if got := replacedWhy(3, c.action, f); got != c.want {
			t.Errorf("%s under pass=%v drop=%v: %q, want %q", c.action, c.pass, c.drop, got, c.want)
		}
	}
}
