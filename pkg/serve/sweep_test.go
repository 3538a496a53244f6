package serve

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

// TestSweeperWaits: the wait after a sweep is the state's period, or 100
// times the sweep where that is longer; after a refusal, SweepMax. A
// state of the previous layout is logged once until a sweep succeeds
// (every sweep is refused until an apply moves it, and serve's reloads
// say why), where other failures are logged as often as the logger lets
// them; no state at all is not logged.
func TestSweeperWaits(t *testing.T) {
	var out bytes.Buffer
	sw := sweeper{log: newLogger(&out, 0)}
	lines := func() int { n := strings.Count(out.String(), "\n"); out.Reset(); return n }
	previous := fmt.Errorf("sweep the conntrack table: %w", loader.ErrPreviousLayout)

	if w := sw.next(loader.SweepResult{Next: 10 * time.Second, Took: time.Millisecond}, nil); w != 10*time.Second {
		t.Errorf("after a 1 ms sweep with a 10 s period: wait %v", w)
	}
	if w := sw.next(loader.SweepResult{Next: 10 * time.Second, Took: 200 * time.Millisecond}, nil); w != 20*time.Second {
		t.Errorf("after a 200 ms sweep with a 10 s period: wait %v, want 100 times the sweep", w)
	}
	for i := range 3 {
		if w := sw.next(loader.SweepResult{}, previous); w != loader.SweepMax {
			t.Errorf("refusal %d of a previous layout's state: wait %v", i, w)
		}
	}
	if n := lines(); n != 1 {
		t.Errorf("3 refusals of a previous layout's state logged %d lines, want 1", n)
	}
	sw.next(loader.SweepResult{Next: time.Second}, nil)
	sw.next(loader.SweepResult{}, previous)
	if n := lines(); n != 1 {
		t.Errorf("a refusal after a sweep (the state replaced meanwhile) logged %d lines, want 1", n)
	}
	sw.next(loader.SweepResult{}, loader.ErrNotAttached)
	if n := lines(); n != 0 {
		t.Errorf("no state logged %d lines, want none", n)
	}
	for range 2 {
		sw.next(loader.SweepResult{}, errors.New("boom"))
	}
	if n := lines(); n != 2 {
		t.Errorf("2 failures logged %d lines with no interval between lines, want 2", n)
	}
}
