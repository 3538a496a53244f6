package loader

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLockWaitLimitLetGo: a holder (another process) letting go as the
// limit comes leaves the waiter the lock, or an error naming that holder
// or none, never the waiter itself: it had the lock by the time it looked
// who held it, and gave it up.
func TestLockWaitLimitLetGo(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("no flock(1) to hold the lock in another process")
	}
	path := filepath.Join(t.TempDir(), "lock")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	LockWaitLimit = 30 * time.Millisecond
	t.Cleanup(func() { LockWaitLimit = 0 })
	self := fmt.Sprintf("pid %d ", os.Getpid())
	took, gaveUp := 0, 0
	for i := range 60 {
		holder := exec.Command("flock", path, "cat")
		in, err := holder.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		waiter, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for unix.Flock(int(waiter.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			unix.Flock(int(waiter.Fd()), unix.LOCK_UN) // not the holder's yet
			time.Sleep(100 * time.Microsecond)
		}
		// Let go about as the limit comes, 0 to 2 ms before (cat and flock
		// exit).
		time.AfterFunc(LockWaitLimit-time.Duration(i%20)*100*time.Microsecond, func() { in.Close() })
		err = lock(context.Background(), waiter, "dir")
		waiter.Close()
		holder.Wait()
		switch {
		case err == nil:
			took++
		case !errors.Is(err, ErrLockWaitLimit):
			t.Fatal(err)
		case strings.Contains(err.Error(), self):
			t.Errorf("try %d: %v: names the waiter itself", i, err)
		default:
			gaveUp++
		}
	}
	t.Logf("took the lock %d times, gave up %d", took, gaveUp)
}
