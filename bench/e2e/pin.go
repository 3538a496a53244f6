package e2e

import "golang.org/x/sys/unix"

// PinTo keeps thread pid (0: the calling thread, which should be locked
// to its goroutine) on CPU cpu alone.
func PinTo(pid, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(pid, &set)
}
