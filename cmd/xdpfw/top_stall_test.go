package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestTopOutputStalled: top whose reader stopped reading (top | less,
// the pager stopped: its pipe full) ends at SIGTERM or ^C, exit 0: its
// write blocked in the kernel, the signal was taken and ignored, and
// only SIGKILL ended it.
func TestTopOutputStalled(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, serveConfig, "apply", "-f", "-")
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := cliChild(t, pin, "top", "--interval", "10ms")
		r := startPiped(t, cmd)
		// Never read: the pipe fills (a table every 10ms) and top's
		// write waits; then a few intervals more, for it to block.
		waitPipeFull(t, cmd, r, 60*time.Second, nil)
		time.Sleep(time.Second)
		if err := signalAndWait(cmd, sig); err == errNoExit {
			t.Errorf("top, its reader stalled, went on after %v", sig)
		} else if err != nil {
			t.Errorf("top, its reader stalled, at %v: %v, want exit 0", sig, err)
		}
		r.Close()
	}
}
