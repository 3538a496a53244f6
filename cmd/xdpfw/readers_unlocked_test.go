package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// stalledOutput is a standard output nobody reads (a pager the operator
// is looking at, a stopped pipe): its first write waits until released.
type stalledOutput struct {
	wrote, release chan struct{}
	once           sync.Once
}

func (o *stalledOutput) Write(p []byte) (int, error) {
	o.once.Do(func() { close(o.wrote) })
	<-o.release
	return len(p), nil
}

// TestReadersPrintUnlocked: a listing whose output is not taken (xdpfw
// set list big | less) does not hold the pin directory's lock while it
// waits: it read the state, printing, under the lock, so every change
// (rule add, apply, serve's reloads) waited for the operator to leave
// the pager. A replay of the live ruleset neither: it printed its frames
// as they ran, under the lock (a table of more than a block, --json).
func TestReadersPrintUnlocked(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, "", "set", "create", "big")
	mustRunCLI(t, pin, "", "set", "add", "big", "192.0.2.1", "2001:db8::/32")
	mustRunCLI(t, pin, "", "rule", "add", "--src", "@big", "--action", "drop")
	capture := filepath.Join(t.TempDir(), "c.pcap")
	writeUDPCapture(t, capture, tableBlock+1, 65535)
	for _, args := range [][]string{
		{"rule", "list"}, {"rule", "list", "--json"},
		{"set", "list"}, {"set", "list", "--json"}, {"set", "list", "big"}, {"set", "list", "big", "--json"},
		{"stats"}, {"stats", "--json"}, {"stats", "--interfaces"},
		{"ct", "list"}, {"ct", "list", "--json"},
		{"policy"}, {"policy", "--json"},
		{"replay", capture}, {"replay", "--json", capture},
	} {
		out := &stalledOutput{wrote: make(chan struct{}), release: make(chan struct{})}
		done := make(chan error, 1)
		var errOut bytes.Buffer
		go func() {
			cliMu.Lock()
			defer cliMu.Unlock()
			app := newApp(out, &errOut)
			done <- app.Run(interspersed(app, append([]string{"xdpfw", "--pin-dir", pin}, args...)))
		}()
		select {
		case <-out.wrote:
		case err := <-done:
			t.Fatalf("xdpfw %s ended before printing: %v %s", strings.Join(args, " "), err, errOut.String())
		case <-time.After(30 * time.Second):
			t.Fatalf("xdpfw %s printed nothing in 30 s", strings.Join(args, " "))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := loader.OpenContext(ctx, pin)
		cancel()
		if err != nil {
			t.Errorf("xdpfw %s holds the lock while its output waits: %v", strings.Join(args, " "), err)
		} else {
			s.Close()
		}
		close(out.release)
		if err := <-done; err != nil {
			t.Errorf("xdpfw %s: %v", strings.Join(args, " "), err)
		}
	}
}

// TestHeldOutput: output held past what is kept in memory is all written
// out, in order, on release, and none of it before.
func TestHeldOutput(t *testing.T) {
	var out, want bytes.Buffer
	h := &heldOutput{out: &out}
	for i := 0; want.Len() <= 2*heldInMemory; i++ {
		line := fmt.Sprintf("line %d\n", i)
		want.WriteString(line)
		if _, err := h.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if out.Len() > 0 {
		t.Fatalf("%d bytes written before the release", out.Len())
	}
	if h.file == nil {
		t.Error("more than heldInMemory held in memory")
	}
	if err := h.release(); err != nil {
		t.Fatal(err)
	}
	h.Write([]byte("after\n"))
	want.WriteString("after\n")
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Errorf("released %d bytes, want the %d written", out.Len(), want.Len())
	}
}
