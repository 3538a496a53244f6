package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestServeStopWhileLocked: SIGTERM ends serve while a reload waits for
// the pin directory's lock another process holds (a long set load, an
// apply stopped with ^Z): the wait gave way only to the lock, so systemd
// waited out its stop timeout and killed the service. It exits as it
// always does, exit 0 with its stopping and exiting lines, and the
// reload it gave up changed nothing live.
func TestServeStopWhileLocked(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	exe := buildXdpfw(t)
	pin := privtest.PinDir(t)
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })
	cfg := writeFile(t, t.TempDir(), "xdpfw.yaml", serveConfig)

	p := startServe(t, exe, pin, cfg)
	p.waitLog("config applied", "trigger=start", "rules=2")
	saved := mustRunCLI(t, pin, "", "save")

	held, err := os.Open(pin)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, cfg, serveConfig2)
	p.waitLog("waiting for the pin directory's lock", "holder=")
	p.signal(syscall.SIGTERM)
	// A bound only a hang exceeds, not an expectation of speed.
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		syscall.Flock(int(held.Fd()), syscall.LOCK_UN)
		<-p.done
		t.Fatal("serve did not exit at SIGTERM while a reload waited for the lock; it did once the lock was free")
	}
	if code := p.exit(); code != 0 {
		t.Errorf("serve exited %d on SIGTERM, want 0", code)
	}
	p.waitLog("stopping", "signal=terminated")
	p.waitLog("exiting: the firewall stays enforcing")
	for _, line := range p.log() {
		if strings.Contains(line, "config applied") && strings.Contains(line, "file changed") {
			t.Errorf("the reload given up applied the file: %s", line)
		}
	}
	syscall.Flock(int(held.Fd()), syscall.LOCK_UN)
	if got := mustRunCLI(t, pin, "", "save"); got != saved {
		t.Errorf("the reload given up changed the live ruleset:\n%s\nwas:\n%s", got, saved)
	}
}
