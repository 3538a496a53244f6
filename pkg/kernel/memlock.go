package kernel

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// MemlockCharged reports whether the kernel charges BPF maps to the
// RLIMIT_MEMLOCK of the process creating them, as kernels before 5.11
// did (later ones charge the memory cgroup). It creates a one-entry map
// with this process's limit lowered to zero for the moment, the test
// cilium/ebpf's rlimit package makes too; the limit is put back.
func MemlockCharged() (bool, error) {
	// First with the limit as it is: unprivileged, creating any map fails
	// with the same EPERM, which would read as "charged".
	m, err := newProbeMap()
	if err != nil {
		return false, fmt.Errorf("create a map: %w", err)
	}
	m.Close()
	var old unix.Rlimit
	zero := unix.Rlimit{Cur: 0}
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &old); err != nil {
		return false, fmt.Errorf("read the memlock limit: %w", err)
	}
	zero.Max = old.Max
	if err := unix.Prlimit(0, unix.RLIMIT_MEMLOCK, &zero, nil); err != nil {
		return false, fmt.Errorf("lower the memlock limit: %w", err)
	}
	m, err = newProbeMap()
	if rerr := unix.Prlimit(0, unix.RLIMIT_MEMLOCK, &old, nil); rerr != nil {
		return false, fmt.Errorf("restore the memlock limit: %w", rerr)
	}
	switch {
	case err == nil:
		m.Close()
		return false, nil
	case errors.Is(err, unix.EPERM):
		return true, nil
	}
	return false, err
}

// MemlockLimit is this process's RLIMIT_MEMLOCK in bytes
// (unix.RLIM_INFINITY: none).
func MemlockLimit() (uint64, error) {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &l); err != nil {
		return 0, fmt.Errorf("read the memlock limit: %w", err)
	}
	return l.Cur, nil
}

func newProbeMap() (*ebpf.Map, error) {
	return ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
}
