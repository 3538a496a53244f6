package serve

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestWriterSeenUnderUnit: serve run by the unit (dist/xdpfw.service)
// sees a root shell holding the config open for writing (cat > file),
// and a feed's downloader of another user holding a set file so:
// looking at another process's open files (/proc/PID/fd, fdinfo) takes
// CAP_SYS_PTRACE of a process whose capabilities are fewer than its
// target's, and CAP_DAC_READ_SEARCH of one whose files are another
// user's. The unit's bounding set left both out, so the look found no
// writer ever and a file written in place was read cut at a pause, as
// if writers.go were not there.
func TestWriterSeenUnderUnit(t *testing.T) {
	if path := os.Getenv("XDPFW_TEST_WRITER_OF"); path != "" {
		// The child, under the unit's capabilities.
		fmt.Printf("writer=%d\n", writerOf(path))
		return
	}
	privtest.Require(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv (util-linux) to run under the unit's capabilities")
	}
	caps := unitCapabilities(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A directory the other user may write in: t.TempDir's parent is root's.
	dir, err := os.MkdirTemp("", "xdpfw-writers-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		who string
		uid uint32
	}{{"root", 0}, {"uid 65534", 65534}} {
		path := filepath.Join(dir, fmt.Sprint(tc.uid))
		w := startWriterAs(t, path, tc.uid)
		w.write(slowHead)
		cmd := exec.Command(setpriv, "--bounding-set", caps, "--inh-caps", caps, "--ambient-caps", caps, "--",
			self, "-test.run=^TestWriterSeenUnderUnit$", "-test.count=1")
		cmd.Env = append(os.Environ(), "XDPFW_TEST_WRITER_OF="+path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		if want := "writer=" + strconv.Itoa(w.cmd.Process.Pid) + "\n"; !strings.Contains(string(out), want) {
			t.Errorf("under the unit's capabilities (%s), %s holding a file open for writing is not seen: want %q in\n%s", caps, tc.who, want, out)
		}
	}
}

// unitCapabilities is the unit's CapabilityBoundingSet as setpriv takes
// it: -all,+bpf,+net_admin...
func unitCapabilities(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../dist/xdpfw.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		v, ok := strings.CutPrefix(line, "CapabilityBoundingSet=")
		if !ok {
			continue
		}
		caps := "-all"
		for _, c := range strings.Fields(v) {
			caps += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
		}
		return caps
	}
	t.Fatal("dist/xdpfw.service has no CapabilityBoundingSet=")
	return ""
}
