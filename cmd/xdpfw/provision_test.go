package main

import (
	"os"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestFailedFirstCommandLeavesNothing: a command that creates the state
// and then fails (attach to a missing interface) removes what it created;
// a failure on a state that was there (a second set create) keeps it.
func TestFailedFirstCommandLeavesNothing(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	gone := func(what string) {
		t.Helper()
		if _, err := os.Stat(pin); !os.IsNotExist(err) {
			t.Fatalf("%s failed but left %s behind (%v)", what, pin, err)
		}
	}
	if _, err := runCLI(t, pin, "", "attach", "xdpfw-no-such0"); err == nil {
		t.Fatal("attach to a missing interface worked")
	}
	gone("attach")
	if _, err := runCLI(t, pin, "", "set", "create", "s", "--family", "ipv4"); err != nil {
		t.Fatal(err)
	}
	// A second create of the same name fails on the state the first made:
	// that state stays.
	if _, err := runCLI(t, pin, "", "set", "create", "s"); err == nil {
		t.Fatal("a second set create of one name worked")
	}
	if out := mustRunCLI(t, pin, "", "set", "list"); out == "" {
		t.Fatal("the state the first set create made is gone")
	}
	mustRunCLI(t, pin, "", "detach", "--all")
	gone("detach --all")
}
