package main

import (
	"os"
	"os/exec"
	"testing"
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
