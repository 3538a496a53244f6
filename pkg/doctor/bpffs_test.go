package doctor

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestBPFFSMissingLevels: doctor's bpffs check looks at the deepest part
// of the pin directory that exists, as the first attach will create the
// rest: a pin directory two missing levels below a bpffs is fine, one on
// another filesystem is told to move (never to mount a bpffs on /tmp), and
// a read-only bpffs is told to be remounted where it is mounted.
func TestBPFFSMissingLevels(t *testing.T) {
	privtest.Require(t)
	deep := filepath.Join(privtest.PinDir(t), "a", "b")
	if b := checkBPFFS(deep); b.Verdict != OK || b.Path != "/sys/fs/bpf" || !b.Mounted || !b.Writable {
		t.Errorf("%s: %+v, want ok at /sys/fs/bpf", deep, b)
	}

	tmp := t.TempDir()
	other := filepath.Join(tmp, "a", "b")
	b := checkBPFFS(other)
	if b.Verdict != Fail || b.Path != tmp || b.Mounted || strings.Contains(b.Detail, "mount -t bpf") ||
		!strings.Contains(b.Detail, "choose a --pin-dir on one") {
		t.Errorf("%s: %+v, want a failure at %s saying to choose a --pin-dir on a bpffs", other, b, tmp)
	}

	ro := filepath.Join(tmp, "ro")
	if err := unix.Mkdir(ro, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpf", ro, "bpf", unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("mount a read-only bpffs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(ro, unix.MNT_DETACH) })
	b = checkBPFFS(filepath.Join(ro, "a", "b"))
	if b.Verdict != Fail || b.Path != ro || !b.Mounted || b.Writable ||
		!strings.Contains(b.Detail, "read-only BPF filesystem (remount it read-write: mount -o remount,rw "+ro+")") {
		t.Errorf("read-only bpffs: %+v", b)
	}
}
