package capture

import (
	"context"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// TestReplacedActionsInterrupted: the read of the ruleset a capture makes
// when a rule left it gives up when the capture is interrupted, the
// state's lock held by another command: it waited for the lock, ^C
// ignored and the ring unread, for as long as that command ran.
func TestReplacedActionsInterrupted(t *testing.T) {
	privtest.Require(t)
	dir := privtest.PinDir(t)
	if err := loader.Provision(dir, func(*loader.State) error { return nil }); err != nil {
		t.Fatal(err)
	}
	held, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := unix.Flock(int(held.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan map[uint32]string, 1)
	go func() { done <- replacedActions(ctx, dir, []loader.RuleChange{{Was: 7}}) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case got := <-done:
		if len(got) != 0 {
			t.Errorf("replacedActions read %v without the lock", got)
		}
	case <-time.After(10 * time.Second):
		held.Close() // let it end before the test does
		<-done
		t.Fatal("replacedActions still waited for the lock 10 s after the interrupt")
	}
}
