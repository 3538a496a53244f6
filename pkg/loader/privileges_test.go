package loader

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCapsMissing: what xdpfw needs is capabilities, not uid 0:
// CAP_SYS_ADMIN and CAP_NET_ADMIN. CAP_BPF, with CAP_PERFMON or not, does
// not do in CAP_SYS_ADMIN's place: the verifier refuses the program
// without CAP_PERFMON, and a program is opened by its id only with
// CAP_SYS_ADMIN (TestDoctorCapabilities runs the commands so).
func TestCapsMissing(t *testing.T) {
	c := func(caps ...int) uint64 {
		var m uint64
		for _, n := range caps {
			m |= 1 << n
		}
		return m
	}
	for _, tc := range []struct {
		name string
		eff  uint64
		want []string
	}{
		{"root's full set", ^uint64(0) >> (63 - unix.CAP_LAST_CAP), nil},
		{"CAP_SYS_ADMIN and CAP_NET_ADMIN", c(unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN), nil},
		{"the unit's bounding set", c(unix.CAP_BPF, unix.CAP_NET_ADMIN, unix.CAP_SYS_ADMIN), nil},
		{"CAP_BPF and CAP_NET_ADMIN", c(unix.CAP_BPF, unix.CAP_NET_ADMIN), []string{"CAP_SYS_ADMIN"}},
		{"CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN", c(unix.CAP_BPF, unix.CAP_PERFMON, unix.CAP_NET_ADMIN), []string{"CAP_SYS_ADMIN"}},
		{"none", 0, []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}},
		{"CAP_BPF alone", c(unix.CAP_BPF), []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}},
		{"CAP_SYS_ADMIN alone", c(unix.CAP_SYS_ADMIN), []string{"CAP_NET_ADMIN"}},
		{"CAP_NET_ADMIN alone", c(unix.CAP_NET_ADMIN), []string{"CAP_SYS_ADMIN"}},
	} {
		if got := capsMissing(tc.eff); !slices.Equal(got, tc.want) {
			t.Errorf("%s (%#x): missing %q, want %q", tc.name, tc.eff, got, tc.want)
		}
	}
}
