package main

import (
	"bytes"
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

	cmd := cliChild(t, pin, "top", "--interval", "50ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupted once it has printed two tables: a fixed wait sent the
	// signal, on a loaded machine, before top had its handler.
	var out bytes.Buffer
	tables, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		seen := false
		buf := make([]byte, 4096)
		for {
			n, err := stdout.Read(buf)
			out.Write(buf[:n])
			if !seen && strings.Count(out.String(), "xdpfw top: every") >= 2 {
				seen = true
				close(tables)
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-tables:
	case <-time.After(30 * time.Second):
	}
	cmd.Process.Signal(syscall.SIGINT)
	<-done // every read done before Wait closes the pipe
	if err := cmd.Wait(); err != nil {
		t.Fatalf("top: %v\n%s", err, errOut.String())
	}
	text := out.String()
	if n := strings.Count(text, "xdpfw top: every"); n < 2 {
		t.Fatalf("top printed %d tables in 30 s at 50ms:\n%s", n, text)
	}
	if strings.ContainsRune(text, '\x1b') {
		t.Errorf("top on a pipe wrote control characters:\n%q", text)
	}
	if !strings.Contains(text, "neighbor") || !strings.Contains(text, "\n\nxdpfw top: every") || strings.HasPrefix(text, "\n") {
		t.Errorf("top on a pipe: want tables a blank line apart:\n%s", text)
	}
}
