package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestTopPiped: top on a pipe (top > log, top | less) prints each
// interval's table after the last, with no control characters: it
// cleared the screen before each (ESC [H ESC [2J), which a terminal
// alone takes for a redraw, so a log or a pager got escape codes.
func TestTopPiped(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, serveConfig, "apply", "-f", "-")
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "--pin-dir", pin, "top", "--interval", "50ms")
	cmd.Env = append(os.Environ(), "XDPFW_TEST_MAIN=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("top: %v\n%s", err, errOut.String())
	}
	text := out.String()
	if n := strings.Count(text, "xdpfw top: every"); n < 2 {
		t.Fatalf("top printed %d tables in 500ms at 50ms:\n%s", n, text)
	}
	if strings.ContainsRune(text, '\x1b') {
		t.Errorf("top on a pipe wrote control characters:\n%q", text)
	}
	if !strings.Contains(text, "neighbor") || !strings.Contains(text, "\n\nxdpfw top: every") || strings.HasPrefix(text, "\n") {
		t.Errorf("top on a pipe: want tables a blank line apart:\n%s", text)
	}
}
