package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestLockFutureMemory: a command that ends on its own gets the memory
// mapped afterwards (here a fresh 4 MB mapping, as the runtime's heap
// growth makes) locked, where this process may lock any amount; a
// long-running one gets nothing locked. The test process's lock is undone
// at the end.
func TestLockFutureMemory(t *testing.T) {
	privtest.Require(t)
	defer unix.Munlockall()
	const size = 4 << 20
	mapped := func() int {
		m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(m)
		return lockedKB(t)
	}
	lockFutureMemory("serve")
	if kb := mapped(); kb != 0 {
		t.Fatalf("after serve: %d kB locked, want none", kb)
	}
	lockFutureMemory("rule")
	kb := mapped()
	if unlimitedLock() && kb < size>>10 {
		t.Errorf("after rule, with locking unlimited: %d kB locked, want the %d kB mapped since", kb, size>>10)
	}
	if !unlimitedLock() && kb != 0 {
		t.Errorf("after rule, with locking limited: %d kB locked, want none", kb)
	}
}

// lockedKB is this process's locked memory (VmLck).
func lockedKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmLck:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmLck in /proc/self/status")
	return 0
}
