package e2e

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/xdpfw/xdpfw/pkg/perf"
)

// line is one word alone on its cache line (64 bytes either side, so no
// neighbour shares or prefetches it).
type line struct {
	_ [64]byte
	v atomic.Int64
	_ [64]byte
}

// LineRoundTrip is the median time, in ns, for a cache line to go from
// CPU a to CPU b and back: a writes it, b waits to see the write and
// answers, a waits to see the answer (batches of trips, the median of
// rounds). Every frame of the end-to-end flood crosses from the
// generator's CPU to the receiver's this way, and on a VM what it costs
// depends on where the host runs the two virtual CPUs, which can change
// between runs: the end-to-end figures follow it.
func LineRoundTrip(a, b, trips, rounds int) (float64, error) {
	var ln line
	ready := make(chan error, 1)
	done := make(chan struct{})
	// Both sides on threads of their own, pinned; a goroutine that exits
	// locked takes its thread with it, affinity and all.
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := PinTo(0, b); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for i := int64(0); i < int64(trips*rounds); i++ {
			for ln.v.Load() != 2*i+1 {
			}
			ln.v.Store(2*i + 2)
		}
	}()
	if err := <-ready; err != nil {
		return 0, fmt.Errorf("pin to CPU %d: %w", b, err)
	}
	res := make(chan []float64, 1)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := PinTo(0, a); err != nil {
			errc <- err
			return
		}
		per := make([]float64, 0, rounds)
		i := int64(0)
		for r := 0; r < rounds; r++ {
			start := time.Now()
			for t := 0; t < trips; t, i = t+1, i+1 {
				ln.v.Store(2*i + 1)
				for ln.v.Load() != 2*i+2 {
				}
			}
			per = append(per, float64(time.Since(start).Nanoseconds())/float64(trips))
		}
		res <- per
	}()
	select {
	case err := <-errc:
		// the other side waits for a write that will not come: give it
		// the answers it waits for, so its thread ends
		for i := int64(0); i < int64(trips*rounds); i++ {
			ln.v.Store(2*i + 1)
			for ln.v.Load() != 2*i+2 {
			}
		}
		<-done
		return 0, fmt.Errorf("pin to CPU %d: %w", a, err)
	case per := <-res:
		<-done
		med, _, _ := perf.MedianRange(per)
		return med, nil
	}
}
