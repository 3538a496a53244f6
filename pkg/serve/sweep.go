package serve

import (
	"context"
	"errors"
	"time"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

// sweepConntrack removes the conntrack table's timed-out flows
// (loader.SweepConntrack, which says why) as often as the state's
// shortest timeout asks (loader.SweepPeriod), until ctx ends.
// Each sweep opens the state for itself, waiting its turn at the lock as
// a command does; with no state yet it waits for one, quietly.
func sweepConntrack(ctx context.Context, dir string, log *logger) {
	// The first soon: a state serve finds from before may be full of
	// flows timed out while nothing swept.
	wait := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		res, err := sweepOnce(ctx, dir)
		switch {
		case err == nil:
			wait = res.Next
		case errors.Is(err, loader.ErrNotAttached), ctx.Err() != nil:
			wait = loader.SweepMax
		default:
			wait = loader.SweepMax
			log.limited("ct-sweep", "sweeping the conntrack table failed", "error", err)
		}
	}
}

func sweepOnce(ctx context.Context, dir string) (loader.SweepResult, error) {
	s, err := loader.OpenContext(ctx, dir)
	if err != nil {
		return loader.SweepResult{}, err
	}
	defer s.Close()
	return s.SweepConntrack()
}
