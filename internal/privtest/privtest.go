// Package privtest gates tests that need root, BPF and network namespaces.
// They skip on a developer's unprivileged machine, but with
// XDPFW_REQUIRE_PRIV=1 (as CI sets it) they fail instead, so a green CI
// always means the BPF paths ran.
package privtest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Require stops the test unless it runs as root with a BPF filesystem at
// /sys/fs/bpf.
func Require(t testing.TB) {
	t.Helper()
	if reason := missing(); reason != "" {
		if os.Getenv("XDPFW_REQUIRE_PRIV") == "1" {
			t.Fatalf("XDPFW_REQUIRE_PRIV=1 but %s", reason)
		}
		t.Skipf("skipped: %s (set XDPFW_REQUIRE_PRIV=1 to make this fail)", reason)
	}
}

func missing() string {
	if os.Geteuid() != 0 {
		return "not running as root"
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/bpf", &st); err != nil || st.Type != unix.BPF_FS_MAGIC {
		return "no BPF filesystem at /sys/fs/bpf"
	}
	return ""
}

// PinDir returns a pin directory unique to this test, removed (with any
// pins left in it) when the test ends, pass or fail.
func PinDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("/sys/fs/bpf", fmt.Sprintf("xdpfw-test-%d-%s", os.Getpid(), randomSuffix()))
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func randomSuffix() string {
	var b [4]byte
	if _, err := unix.Getrandom(b[:], 0); err != nil {
		panic(err)
	}
	return fmt.Sprintf("%x", b)
}
