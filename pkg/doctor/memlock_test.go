package doctor

import (
	"strings"
	"testing"
)

// TestMemlockFinding: a kernel that charges maps to RLIMIT_MEMLOCK (one
// before 5.11) is one xdpfw cannot run on, and xdpfw lifts no limit, so
// doctor fails the check and says to upgrade; it once passed it saying
// xdpfw would lift the limit when loading.
func TestMemlockFinding(t *testing.T) {
	f := memlockFinding(true, "8 MiB")
	if f.Verdict != Fail || strings.Contains(f.Detail, "lifts it") || !strings.Contains(f.Detail, "upgrade the kernel") {
		t.Errorf("charged to RLIMIT_MEMLOCK: %+v, want a failure saying to upgrade the kernel", f)
	}
	if f := memlockFinding(false, "8 MiB"); f.Verdict != OK || !strings.Contains(f.Detail, "memory cgroup") {
		t.Errorf("charged to the memory cgroup: %+v, want ok", f)
	}
}
