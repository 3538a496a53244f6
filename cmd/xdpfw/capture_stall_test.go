package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/fixtures"
)

// TestCaptureReaderStalled: a capture whose reader stopped reading (its
// pipe full: a reader stopped with ^Z, or hung) ends at SIGTERM or
// SIGINT, exit 0, its capture stopped; its write blocked in the kernel
// and the signal, caught, was ignored: only SIGKILL ended it, leaving
// the datapath copying.
func TestCaptureReaderStalled(t *testing.T) {
	pin, _ := withLiveRuleset(t)
	// Dropped by the live ruleset's @bl rule; enough records to fill a
	// pipe many times over.
	drop := fixtures.TCPSyn("192.0.2.7", "198.51.100.10", 40000, 80)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		for _, args := range [][]string{{"capture"}, {"capture", "-w", "-"}} {
			cmd := cliChild(t, pin, args...)
			r := startPiped(t, cmd)
			waitCapturing(t, pin, cmd.Process.Pid)
			// Never read: the pipe fills and the capture's write waits.
			waitPipeFull(t, cmd, r, 20*time.Second, func() { runPinned(t, pin, repeat(drop, 200)) })
			// What the pipe still takes, and more: a write waits.
			runPinned(t, pin, repeat(drop, 1000))
			time.Sleep(200 * time.Millisecond)
			if err := signalAndWait(cmd, sig); err == errNoExit {
				t.Errorf("%v, its reader stalled, went on after %v", args, sig)
				mustRunCLI(t, pin, "", "capture", "--stop")
			} else if err != nil {
				t.Errorf("%v, its reader stalled, at %v: %v, want exit 0", args, sig, err)
			}
			r.Close()
			checkCaptureRing(t, pin, false)
		}
	}
}

// repeat is n copies of frame.
func repeat(frame []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = frame
	}
	return out
}
