package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestCaptureRuleRenumbered: `capture --rule 1` goes on copying rule 1's
// frames once an apply renumbers it (a rule put before it at its
// priority), each written as the new id's and stderr saying so; once an
// apply removes the rule, the capture ends, failing saying so, the frame
// written. It used to go silent for as long as it ran.
func TestCaptureRuleRenumbered(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	dir := t.TempDir()
	mustRunCLI(t, pin, "policy: pass\nrules:\n  - {proto: udp, dport: 53, action: drop}\n", "apply", "-f", "-")
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out, errPath := filepath.Join(dir, "rule.pcapng"), filepath.Join(dir, "stderr")
	stderr, err := os.Create(errPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd := exec.Command(self, "--pin-dir", pin, "capture", "--rule", "1", "-w", out)
	cmd.Env = append(os.Environ(), "XDPFW_TEST_MAIN=1")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitCapturing(t, pin, cmd.Process.Pid)

	// Rule 1 becomes rule 3: the tcp rule, put first, takes 2.
	mustRunCLI(t, pin, "policy: pass\nrules:\n  - {proto: tcp, dport: 23, action: drop}\n  - {proto: udp, dport: 53, action: drop}\n", "apply", "-f", "-")
	runPinned(t, pin, [][]byte{fixtures.UDP("192.0.2.7", "192.0.2.1", 1000, 53)})
	renumbered := "capture: rule 1 is rule 3 now (the ruleset was changed): its frames are written as rule 3's\n"
	deadline := time.Now().Add(10 * time.Second)
	for b, _ := os.ReadFile(errPath); !bytes.Contains(b, []byte(renumbered)); b, _ = os.ReadFile(errPath) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no notice of the renumbering; stderr %q", b)
		}
		time.Sleep(50 * time.Millisecond)
	}

	mustRunCLI(t, pin, "policy: pass\nrules:\n  - {proto: tcp, dport: 23, action: drop}\n", "apply", "-f", "-")
	err = waitExit(t, cmd, func() { cmd.Process.Kill() })
	b, _ := os.ReadFile(errPath)
	removed := "capture: rule 3 was removed from the ruleset: nothing more would be copied"
	if err == nil || !strings.Contains(string(b), removed) {
		t.Errorf("capture once its rule was removed: %v, stderr %q; want a failure saying %q", err, b, removed)
	}
	frames, comments := readCapture(t, out)
	if len(frames) != 1 || comments[0] != "rule 3 drop iface lo" {
		t.Errorf("captured %d frames, comments %q; want the one sent, as rule 3's", len(frames), comments)
	}
	checkCaptureRing(t, pin, false)
}
