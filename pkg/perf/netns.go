package perf

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// NewNetns returns a new, unnamed network namespace. Nothing names it, so
// it (and every interface and XDP attachment in it) disappears when the
// last handle is closed, even if the process dies first.
func NewNetns() (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread moves into the new namespace and is never unlocked,
		// so the runtime ends it with this goroutine rather than reuse it.
		runtime.LockOSThread()
		ns, err := netns.New()
		ch <- result{ns, err}
	}()
	r := <-ch
	if r.err != nil {
		return netns.None(), fmt.Errorf("create a network namespace: %w", r.err)
	}
	return r.ns, nil
}

// InNetns runs fn on a thread in ns and waits for it. The thread is never
// unlocked, so it ends with fn instead of returning to the scheduler in
// the wrong namespace. Only the network namespace changes: bpffs pins
// stay visible. fn ending its goroutine without returning (a test's
// t.Fatal calls runtime.Goexit) is an error too: waiting for a return
// that never comes hung the caller until go test's timeout.
func InNetns(ns netns.NsHandle, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		returned := false
		defer func() {
			if !returned {
				ch <- errors.New("the function run in the network namespace ended without returning (runtime.Goexit: t.Fatal off the test's goroutine?)")
			}
		}()
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			returned = true
			ch <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		err := fn()
		returned = true
		ch <- err
	}()
	return <-ch
}
