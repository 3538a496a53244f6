package doctor

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/pkg/kernel"
)

// Memlock is how the kernel accounts BPF map memory. Before 5.11 maps
// count against RLIMIT_MEMLOCK, which xdpfw's 60 MiB of vectors exceed.
// xdpfw lifts no limit: such a kernel lacks what the program needs
// (5.18), and the probe before every load refuses it.
type Memlock struct {
	Charged bool   `json:"charged"`     // maps count against RLIMIT_MEMLOCK
	Limit   string `json:"limit"`       // this process's RLIMIT_MEMLOCK
	LimitB  uint64 `json:"limit_bytes"` // the same in bytes (RLIM_INFINITY: none)
	Finding
}

func checkMemlock() Memlock {
	var m Memlock
	var err error
	if m.LimitB, err = kernel.MemlockLimit(); err != nil {
		m.Finding = Finding{Warn, err.Error()}
		return m
	}
	m.Limit = formatLimit(m.LimitB)
	if m.Charged, err = kernel.MemlockCharged(); err != nil {
		m.Finding = Finding{Warn, fmt.Sprintf("could not tell how map memory is accounted (%v); limit %s", err, m.Limit)}
		return m
	}
	m.Finding = memlockFinding(m.Charged, m.Limit)
	return m
}

// memlockFinding is the verdict on how maps are charged, limit being
// this process's RLIMIT_MEMLOCK as shown.
func memlockFinding(charged bool, limit string) Finding {
	if !charged {
		return Finding{OK, fmt.Sprintf("maps are charged to the memory cgroup, not RLIMIT_MEMLOCK (limit %s, irrelevant)", limit)}
	}
	return Finding{Fail, fmt.Sprintf("maps are charged to RLIMIT_MEMLOCK (limit %s), as on kernels before 5.11, which xdpfw does not run on: it lifts no limit (upgrade the kernel)", limit)}
}

func formatLimit(b uint64) string {
	switch {
	case b == unix.RLIM_INFINITY:
		return "unlimited"
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", b>>10)
	}
	return fmt.Sprintf("%d bytes", b)
}
