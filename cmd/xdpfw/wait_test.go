package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"golang.org/x/sys/unix"
)

// TestWaitLimit: with --wait (or XDPFW_WAIT), a change that finds another
// process holding the state's lock gives up after that long, in one line
// naming the holder, changing nothing; once the lock is free the same
// command goes through. A --wait that is no time is refused.
func TestWaitLimit(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, "", "set", "create", "s") // the state, policy pass
	exe := buildXdpfw(t)
	held, err := os.Open(pin)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := unix.Flock(int(held.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	run := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(exe, append([]string{"--pin-dir", pin}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		return stderr.String(), err
	}
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"--wait", "300ms", "policy", "drop"}},
		{[]string{"XDPFW_WAIT=0.3"}, []string{"policy", "drop"}},
	} {
		stderr, err := run(c.env, c.args...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("%v %v with the lock held: %v, want a failure (stderr %q)", c.env, c.args, err, stderr)
		}
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		last := lines[len(lines)-1]
		want := fmt.Sprintf("xdpfw: lock %s: gave up waiting after 300ms: still held by pid %d (", pin, os.Getpid())
		if !strings.HasPrefix(last, want) {
			t.Errorf("%v %v: last line %q, want it to start %q", c.env, c.args, last, want)
		}
	}
	if stderr, err := run(nil, "--wait", "0", "policy", "drop"); err == nil || !strings.Contains(stderr, `--wait "0": not a time to wait`) {
		t.Errorf("--wait 0: %v, %q; want it refused", err, stderr)
	}
	held.Close()
	if out := mustRunCLI(t, pin, "", "policy"); out != "policy pass\n" {
		t.Fatalf("a command that gave up changed the policy: %q", out)
	}
	if stderr, err := run(nil, "--wait", "5", "policy", "drop"); err != nil {
		t.Fatalf("--wait 5 with the lock free: %v (%s)", err, stderr)
	}
	if out := mustRunCLI(t, pin, "", "policy"); out != "policy drop\n" {
		t.Errorf("policy after --wait 5 policy drop: %q", out)
	}
}
