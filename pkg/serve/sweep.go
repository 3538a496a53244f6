package serve

import (
	"context"
	"errors"
	"time"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

// sweepConntrack removes the conntrack table's timed-out flows
// (loader.SweepConntrack, which says why) as often as the state's
// shortest timeout asks (loader.SweepPeriod), or less often where the
// table is so large that that would cost more than about 1% of a CPU,
// until ctx ends. Each sweep opens the state for itself, waiting its
// turn at the lock as a command does, and holds it only while it takes
// flows out (loader.SweepConntrackIn); with no state yet it waits for
// one, quietly.
func sweepConntrack(ctx context.Context, dir string, log *logger) {
	// The first soon: a state serve finds from before may be full of
	// flows timed out while nothing swept.
	wait := time.Second
	sw := sweeper{log: log}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		res, err := loader.SweepConntrackIn(ctx, dir)
		if ctx.Err() != nil {
			return
		}
		wait = sw.next(res, err)
	}
}

// sweeper decides when to sweep next, and what of a failed sweep to log.
type sweeper struct {
	log *logger
	// toldPrevious: the state's previous layout was logged. Every sweep
	// is refused until an apply moves the state, and the reloads' own
	// errors say why it has not: once is enough.
	toldPrevious bool
}

// next is the wait after a sweep that ended with res or err.
func (sw *sweeper) next(res loader.SweepResult, err error) time.Duration {
	switch {
	case err == nil:
		sw.toldPrevious = false
		// A sweep reads the whole table (about 70 ms for 130,000
		// flows): a large one is swept less often, so sweeping takes
		// at most about 1% of a CPU.
		return max(res.Next, sweepShare*res.Took)
	case errors.Is(err, loader.ErrNotAttached):
		// No state yet: wait for one, quietly.
	case errors.Is(err, loader.ErrPreviousLayout):
		if !sw.toldPrevious {
			sw.toldPrevious = true
			sw.log.Warn("not sweeping the conntrack table until the state is moved to this build (an apply does it)", "error", err)
		}
	default:
		sw.log.limited("ct-sweep", "sweeping the conntrack table failed", "error", err)
	}
	return loader.SweepMax
}

// sweepShare: the wait after a sweep is at least this many times what
// the sweep took.
const sweepShare = 100
