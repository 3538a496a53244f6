package serve

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestProcBlind: serve tells at its start whether it can look at other
// processes' open files, as writerOf does: a user without the
// capabilities cannot (pid 1's fd denied), nor can root without
// CAP_SYS_PTRACE, nor any process under a /proc hiding pid 1 (hidepid=2),
// and root can. writerOf found no writer in each such case, silently.
func TestProcBlind(t *testing.T) {
	if proc := os.Getenv("XDPFW_TEST_PROC_BLIND"); proc != "" {
		// The child, as the user and capabilities the parent gave it.
		err := procBlind(proc)
		fmt.Printf("blind=%v\n%v\n", err != nil, err)
		return
	}
	privtest.Require(t)

	// A /proc whose pid 1 is hidden, as hidepid=2 hides every other
	// user's process, and one that shows it.
	hidden, shown := t.TempDir(), t.TempDir()
	for _, d := range []string{"fd", "fdinfo"} {
		if err := os.MkdirAll(filepath.Join(shown, "1", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/dev/null", filepath.Join(shown, "1", "fd", "0")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shown, "1", "fdinfo", "0"), []byte("pos:\t0\nflags:\t0100002\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if procBlind(hidden) == nil {
		t.Errorf("a /proc without pid 1 (hidepid=2) is not told blind")
	}
	if err := procBlind(shown); err != nil {
		t.Errorf("a /proc showing pid 1's files is told blind: %v", err)
	}

	// The test binary where uid 65534 may run it: the build's directory
	// is root's alone.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "xdpfw-procblind-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	exe := filepath.Join(dir, "serve.test")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// Each child in a PID namespace of its own, under a /proc of it,
	// whose pid 1 is a root shell with every capability this test has,
	// the child its pid 2: the processes about are those of the test.
	unshare, err1 := exec.LookPath("unshare")
	setpriv, err2 := exec.LookPath("setpriv")
	if err1 != nil || err2 != nil {
		t.Skip("no unshare and setpriv (util-linux) to run the probe in a PID namespace")
	}
	child := func(mount string, wrap ...string) string {
		args := append([]string{"--pid", "--fork", "--mount-proc", "sh", "-c", mount + `"$@"; exit $?`, "sh"}, wrap...)
		cmd := exec.Command(unshare, append(args, exe, "-test.run=^TestProcBlind$", "-test.count=1")...)
		cmd.Env = append(os.Environ(), "XDPFW_TEST_PROC_BLIND=/proc")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
	as := func(caps string) []string {
		return []string{setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps", caps, "--ambient-caps", caps, "--"}
	}
	xdpfw := "+sys_admin,+net_admin"                  // a unit's AmbientCapabilities
	seeing := xdpfw + ",+sys_ptrace,+dac_read_search" // and those dist/xdpfw.service keeps
	for _, tc := range []struct {
		who   string
		mount string // run before the child
		wrap  []string
		blind bool
	}{
		{"root", "", nil, false},
		{"root without CAP_SYS_PTRACE", "", []string{setpriv, "--bounding-set", "-sys_ptrace", "--inh-caps", "-sys_ptrace", "--"}, true},
		{"uid 65534 given xdpfw's capabilities", "", as(xdpfw), true},
		{"uid 65534 given CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH too", "", as(seeing), false},
		{"uid 65534 given xdpfw's capabilities, /proc hidepid=2", "mount -o remount,hidepid=2 /proc; ", as(xdpfw), true},
	} {
		out := child(tc.mount, tc.wrap...)
		if want := fmt.Sprintf("blind=%v\n", tc.blind); !strings.Contains(out, want) {
			t.Errorf("%s: want %q in\n%s", tc.who, want, out)
		}
	}
}
