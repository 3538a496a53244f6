package main

import (
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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
		for full := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if n, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ); err == nil && n >= 60000 {
				break
			}
			if time.Now().After(full) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("the pipe did not fill")
			}
		}
		time.Sleep(time.Second)
		cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("top, its reader stalled, at %v: %v, want exit 0", sig, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("top, its reader stalled, went on after %v", sig)
			cmd.Process.Kill()
			<-done
		}
		r.Close()
	}
}
