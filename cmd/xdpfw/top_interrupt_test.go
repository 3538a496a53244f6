package main

import (
	"bufio"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestTopInterruptWhileLocked: top ends at ^C while a read waits for the
// pin directory's lock, which another process holds (a long set load, an
// apply stopped with ^Z): it took SIGINT to end cleanly between reads,
// so after telling who held the lock it ignored ^C until the lock was
// free.
func TestTopInterruptWhileLocked(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, "", "apply", "-f", lockdownFile)
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })

	cmd := cliChild(t, pin, "top", "--json", "--interval", "50ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	samples := bufio.NewScanner(stdout)
	if !samples.Scan() {
		t.Fatalf("top printed no sample: %v", samples.Err())
	}
	go func() {
		for samples.Scan() {
		}
	}()

	held, err := os.Open(pin)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	notice := bufio.NewScanner(stderr)
	if !notice.Scan() || !strings.Contains(notice.Text(), "waiting for") {
		t.Fatalf("top did not say it waits for the lock: %q", notice.Text())
	}
	go func() {
		for notice.Scan() {
		}
	}()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("top interrupted: %v, want exit 0", err)
		}
	case <-time.After(5 * time.Second):
		syscall.Flock(int(held.Fd()), syscall.LOCK_UN)
		<-done
		t.Error("top ignored ^C while it waited for the lock")
	}
}
