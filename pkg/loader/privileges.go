package loader

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// MissingCapabilities is what this process lacks, of its effective
// capabilities, to run xdpfw (capsMissing): none for root as usual, and
// none for another user given them (a unit's AmbientCapabilities, a
// container's added capabilities). The uid itself grants nothing: root
// in a container without CAP_NET_ADMIN cannot attach, nor root in a
// user namespace (a rootless container, unshare -r), whose capabilities
// are the namespace's: bpf() asks for them in the initial one.
func MissingCapabilities() ([]string, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil, fmt.Errorf("read this process's capabilities: %w", err)
	}
	if !inInitialUserNS() {
		return []string{"CAP_SYS_ADMIN and CAP_NET_ADMIN of the initial user namespace (this process is in another, whose capabilities bpf() does not take)"}, nil
	}
	return capsMissing(uint64(data[1].Effective)<<32 | uint64(data[0].Effective)), nil
}

// initialUserNSInode is the inode the kernel gives the initial user
// namespace (PROC_USER_INIT_INO), the same on every boot since 3.8.
const initialUserNSInode = 0xEFFFFFFD

// inInitialUserNS reports whether this process is in the initial user
// namespace: root of another (a rootless container, unshare -r) has
// every capability of it, which passed the check, and the first map
// made failed (operation not permitted, MEMLOCK may be too low). Its uid
// map does not tell: one may map every uid to itself, as the initial
// one's does. No /proc to look at says nothing: the capabilities decide.
func inInitialUserNS() bool {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/user", &st); err != nil {
		return true
	}
	return st.Ino == initialUserNSInode
}

// capsMissing is what effective capabilities eff lack: CAP_NET_ADMIN to
// attach XDP programs (rtnetlink asks for it, CAP_SYS_ADMIN or not), and
// CAP_SYS_ADMIN. CAP_BPF is not enough in its place: the verifier
// refuses xdpfw's program without CAP_PERFMON too (R2 partial copy of
// pointer), and even with both a program is opened by its id, as attach
// does with the one an interface holds (a mode change, a foreign program
// replaced) and as the look for xdpfw's own programs does, only with
// CAP_SYS_ADMIN (EPERM: a mode change failed, xdpfw's program was taken
// for another's). CAP_SYS_ADMIN counts as CAP_BPF and CAP_PERFMON.
func capsMissing(eff uint64) []string {
	has := func(c int) bool { return eff&(1<<c) != 0 }
	var missing []string
	if !has(unix.CAP_SYS_ADMIN) {
		missing = append(missing, "CAP_SYS_ADMIN")
	}
	if !has(unix.CAP_NET_ADMIN) {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	return missing
}
