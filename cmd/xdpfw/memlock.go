package main

import (
	"bytes"
	"os"

	"golang.org/x/sys/unix"
)

// longRunning are the commands that run until stopped or read input of
// any size: their memory is left to the kernel to page as it will.
var longRunning = map[string]bool{"serve": true, "top": true, "capture": true, "replay": true}

// lockFutureMemory has the kernel map each piece of heap the runtime adds
// whole, when it is added (mlockall(MCL_FUTURE)), rather than one page at
// each first touch. A change commits tables of several MB in fresh
// memory; where a page fault is dear (about 11 µs on the development VM,
// a guest whose faults go to the host) faulting the pages one at a time
// took about 12 ms more of a `rule add` at 4095 rules. The binary's own
// pages (MCL_CURRENT) are left alone: mapping all 22 MB of it cost more
// than it saved.
//
// Only for commands that end on their own (command, the first argument,
// not longRunning), and only
// when this process may lock any amount (unlimitedLock): under a limit, a
// heap grown past it would fail to map and the runtime would die.
// Otherwise nothing is locked and nothing else changes.
func lockFutureMemory(command string) {
	if longRunning[command] || !unlimitedLock() {
		return
	}
	_ = unix.Mlockall(unix.MCL_FUTURE)
}

// unlimitedLock reports whether RLIMIT_MEMLOCK does not bound this
// process: it is infinite, or the process holds CAP_IPC_LOCK in the
// initial user namespace (the kernel checks the capability there; root
// in a container's namespace is still held to the limit).
func unlimitedLock() bool {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim) == nil && lim.Cur == unix.RLIM_INFINITY {
		return true
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if unix.Capget(&hdr, &data[0]) != nil || data[0].Effective&(1<<unix.CAP_IPC_LOCK) == 0 {
		return false
	}
	m, err := os.ReadFile("/proc/self/uid_map")
	return err == nil && initialUIDMap(m)
}

// initialUIDMap: m is the initial user namespace's map, every uid to
// itself.
func initialUIDMap(m []byte) bool {
	f := bytes.Fields(m)
	return len(f) == 3 && string(f[0]) == "0" && string(f[1]) == "0" && string(f[2]) == "4294967295"
}
