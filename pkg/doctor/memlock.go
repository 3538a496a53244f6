package doctor

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/pkg/kernel"
)

// Memlock is how the kernel accounts BPF map memory. Before 5.11 maps
// count against RLIMIT_MEMLOCK, which xdpfw's 60 MiB of vectors exceed;
// xdpfw then lifts the limit itself when it loads.
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
	if !m.Charged {
		m.Finding = Finding{OK, fmt.Sprintf("maps are charged to the memory cgroup, not RLIMIT_MEMLOCK (limit %s, irrelevant)", m.Limit)}
		return m
	}
	m.Finding = Finding{OK, fmt.Sprintf("maps are charged to RLIMIT_MEMLOCK (limit %s): xdpfw lifts it when loading (needs CAP_SYS_RESOURCE)", m.Limit)}
	return m
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
