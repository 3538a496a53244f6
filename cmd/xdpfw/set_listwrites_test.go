package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// writeCounter counts the writes made to it, as write calls to a pipe.
type writeCounter struct {
	bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// TestSetListBuffered: set list NAME prints a large set in few writes:
// it wrote each element on its own, a million write calls for a
// million-element set (8 s into a pipe).
func TestSetListBuffered(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })
	mustRunCLI(t, pin, "", "set", "create", "s")
	var list strings.Builder
	const n = 20000
	for i := range n {
		fmt.Fprintf(&list, "10.%d.%d.0/24\n", i>>8, i&255)
	}
	mustRunCLI(t, pin, list.String(), "set", "load", "s", "-", "--quiet")
	var out writeCounter
	cliMu.Lock()
	app := newApp(&out, &bytes.Buffer{})
	err := app.Run(interspersed(app, []string{"xdpfw", "--pin-dir", pin, "set", "list", "s"}))
	cliMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "\n"); got != n || !strings.HasPrefix(out.String(), "10.0.0.0/24\n10.0.1.0/24\n") {
		t.Fatalf("set list s printed %d lines, want %d: %.40q", got, n, out.String())
	}
	if out.writes > 10 {
		t.Errorf("set list s printed %d elements in %d writes", n, out.writes)
	}
}
