package main

import (
	"golang.org/x/sys/unix"
)

// stateCommands are the commands that change or read the live state and
// end on their own: those whose time is spent committing or reading tables
// of several MB in fresh memory, which prepareMemory readies. Commands
// that run until stopped (serve, top, capture), replay captures or check
// the machine are left alone: their memory is theirs to page as the
// kernel will.
var stateCommands = map[string]bool{
	"attach": true, "detach": true, "policy": true, "rule": true,
	"set": true, "apply": true, "status": true,
}

// cgoThreads is set in a build with cgo, whose runtime starts each thread
// with pthread_create: a future lock would map each thread's stack whole
// (8 MiB or more), hundreds of MiB on a host with many CPUs.
var cgoThreads bool

// initialUserNSInode is the inode the kernel gives the initial user
// namespace (PROC_USER_INIT_INO), the same on every boot since 3.8.
const initialUserNSInode = 0xEFFFFFFD

// lockFutureMemory has the kernel map each piece of heap the runtime adds
// whole, when it is added (mlockall(MCL_FUTURE)), rather than one page at
// each first touch. A change commits tables of several MB in fresh
// memory; where a page fault is dear (about 11 µs on the development VM,
// a guest whose faults go to the host) faulting the pages one at a time
// took about 12 ms more of a `rule add` at 4095 rules. The binary's own
// pages (MCL_CURRENT) are left alone: mapping all 22 MB of it cost more
// than it saved. The heap stays mapped until the command exits, its peak
// kept: the files `set load` and `apply` read whole are bounded by
// --max-size.
//
// Only for stateCommands (command is the first argument), not in a cgo
// build, and only where locking is not bounded at all (mayLockAny):
// under RLIMIT_MEMLOCK a heap grown past it would fail to map and the
// runtime would die. Otherwise nothing is locked and nothing changes.
func lockFutureMemory(command string) {
	if !stateCommands[command] || cgoThreads || !mayLockAny() {
		return
	}
	_ = unix.Mlockall(unix.MCL_FUTURE)
}

// mayLockAny reports whether this process holds CAP_IPC_LOCK in the
// initial user namespace, where the kernel checks it: there, and only
// there, RLIMIT_MEMLOCK does not apply to it. An infinite limit is not
// enough: a process may lower it (doctor's memlock check sets it to zero
// for a moment), and a heap grown under the lowered limit would fail to
// map; root in a container's namespace is still held to it.
func mayLockAny() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if unix.Capget(&hdr, &data[0]) != nil || data[0].Effective&(1<<unix.CAP_IPC_LOCK) == 0 {
		return false
	}
	var st unix.Stat_t
	return unix.Stat("/proc/self/ns/user", &st) == nil && st.Ino == initialUserNSInode
}
