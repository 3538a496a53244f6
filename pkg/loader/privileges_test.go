package loader

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCapsMissing: what xdpfw needs is capabilities, not uid 0: CAP_BPF
// (or CAP_SYS_ADMIN, which the kernel takes for it) and CAP_NET_ADMIN.
func TestCapsMissing(t *testing.T) {
	c := func(caps ...int) uint64 {
		var m uint64
		for _, n := range caps {
			m |= 1 << n
		}
		return m
	}
	bpf := "CAP_BPF (or CAP_SYS_ADMIN)"
	for _, tc := range []struct {
		name string
		eff  uint64
		want []string
	}{
		{"root's full set", ^uint64(0) >> (63 - unix.CAP_LAST_CAP), nil},
		{"CAP_BPF and CAP_NET_ADMIN", c(unix.CAP_BPF, unix.CAP_NET_ADMIN), nil},
		{"CAP_SYS_ADMIN and CAP_NET_ADMIN", c(unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN), nil},
		{"the unit's bounding set", c(unix.CAP_BPF, unix.CAP_NET_ADMIN, unix.CAP_SYS_ADMIN), nil},
		{"none", 0, []string{bpf, "CAP_NET_ADMIN"}},
		{"CAP_BPF alone", c(unix.CAP_BPF), []string{"CAP_NET_ADMIN"}},
		{"CAP_SYS_ADMIN alone", c(unix.CAP_SYS_ADMIN), []string{"CAP_NET_ADMIN"}},
		{"CAP_NET_ADMIN alone", c(unix.CAP_NET_ADMIN), []string{bpf}},
		{"CAP_NET_ADMIN and CAP_PERFMON", c(unix.CAP_NET_ADMIN, unix.CAP_PERFMON), []string{bpf}},
	} {
		if got := capsMissing(tc.eff); !slices.Equal(got, tc.want) {
			t.Errorf("%s (%#x): missing %q, want %q", tc.name, tc.eff, got, tc.want)
		}
	}
}
