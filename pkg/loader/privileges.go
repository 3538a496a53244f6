package loader

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// MissingCapabilities is what this process lacks, of its effective
// capabilities, to run xdpfw (capsMissing): none for root as usual, and
// none for another user given them (a unit's AmbientCapabilities, a
// container's added capabilities). The uid itself grants nothing: root
// in a container without CAP_NET_ADMIN cannot attach.
func MissingCapabilities() ([]string, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil, fmt.Errorf("read this process's capabilities: %w", err)
	}
	return capsMissing(uint64(data[1].Effective)<<32 | uint64(data[0].Effective)), nil
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
