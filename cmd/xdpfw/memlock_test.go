package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestLockFutureMemory: a command that changes the state gets the memory
// mapped afterwards (here a fresh 4 MB mapping, as the runtime's heap
// growth makes) locked, where this process may lock any amount and is not
// a cgo build (go test builds with cgo where a C compiler is present:
// then nothing may be locked); a long-running one never gets anything
// locked. The test process's lock is undone at the end.
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
	locks := mayLockAny() && !cgoThreads
	if locks && kb < size>>10 {
		t.Errorf("after rule, with locking unbounded: %d kB locked, want the %d kB mapped since", kb, size>>10)
	}
	if !locks && kb != 0 {
		t.Errorf("after rule, with locking bounded or a cgo build (%v): %d kB locked, want none", cgoThreads, kb)
	}
}

// TestMayLockAny: root in the initial user namespace holds CAP_IPC_LOCK
// there; the same process in a user namespace of its own does not, even
// with every capability in it and an identity uid map.
func TestMayLockAny(t *testing.T) {
	privtest.Require(t)
	if !mayLockAny() {
		t.Fatal("root in the initial user namespace: mayLockAny false")
	}
	if os.Getenv("XDPFW_MAYLOCK_CHILD") == "1" {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run", "^TestMayLockAnyChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "XDPFW_MAYLOCK_CHILD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER,
		// The whole range, as the initial namespace's map reads: only
		// the namespace's identity tells them apart.
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}},
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("in a user namespace of its own: %v\n%s", err, out)
	}
}

// TestMayLockAnyChild runs only as TestMayLockAny's child, in its own
// user namespace as root of it.
func TestMayLockAnyChild(t *testing.T) {
	if os.Getenv("XDPFW_MAYLOCK_CHILD") != "1" {
		t.Skip("run by TestMayLockAny in a user namespace")
	}
	if mayLockAny() {
		t.Fatal("root of a child user namespace: mayLockAny true")
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
