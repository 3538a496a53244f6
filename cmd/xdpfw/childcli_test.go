package main

import (
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cliChild is the test binary run as the xdpfw CLI (XDPFW_TEST_MAIN) on
// pin with args, in a process of its own: for what only a process shows
// (signals, its stdout's reader going away or stalling). Not started.
func cliChild(t *testing.T, pin string, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, append([]string{"--pin-dir", pin}, args...)...)
	cmd.Env = append(os.Environ(), "XDPFW_TEST_MAIN=1")
	return cmd
}

// startPiped starts cmd with its stdout on a pipe and returns the pipe's
// read end, for the test to read, leave unread or close; the write end is
// the child's alone, so a read ends when the child does.
func startPiped(t *testing.T, cmd *exec.Cmd) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return r
}

// waitPipeFull waits until the pipe's read end r holds 60,000 bytes
// unread (a pipe's 64 KiB nearly full: the child's next writes wait),
// running feed between looks where it is not nil, for at most limit;
// past that it kills cmd and fails.
func waitPipeFull(t *testing.T, cmd *exec.Cmd, r *os.File, limit time.Duration, feed func()) {
	t.Helper()
	for end := time.Now().Add(limit); ; time.Sleep(50 * time.Millisecond) {
		if n, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ); err == nil && n >= 60000 {
			return
		}
		if time.Now().After(end) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%v: its stdout's pipe did not fill in %v", cmd.Args[3:], limit)
		}
		if feed != nil {
			feed()
		}
	}
}

// signalAndWait sends cmd sig and waits for it to exit, for 5 s at most:
// its exit's error, or errNoExit where it went on (then it is killed).
func signalAndWait(cmd *exec.Cmd, sig os.Signal) error {
	cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
		return errNoExit
	}
}

// errNoExit: a child that went on after the signal asking it to end.
var errNoExit = errors.New("went on 5 s after the signal")
