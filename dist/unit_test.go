package dist

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildXdpfw builds the binary into dir.
func buildXdpfw(t *testing.T, dir string) string {
	t.Helper()
	exe := filepath.Join(dir, "xdpfw")
	if out, err := exec.Command("go", "build", "-o", exe, "../cmd/xdpfw").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// need fails the test when a tool the Makefile's deps install is missing.
func need(t *testing.T, tool, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("%s not found: install %s (make deps does)", tool, pkg)
	}
}

// verifyUnit runs systemd-analyze verify on unit text (its ExecStart
// pointed at exe, which verify requires to exist) and returns what it
// said about the unit.
func verifyUnit(t *testing.T, dir, text, exe string) string {
	t.Helper()
	path := filepath.Join(dir, "xdpfw.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "/usr/sbin/xdpfw", exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", path).CombinedOutput()
	var about []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "xdpfw") {
			about = append(about, line)
		}
	}
	if err != nil {
		about = append(about, "exit: "+err.Error())
	}
	return strings.Join(about, "\n")
}

// TestUnit: systemd-analyze verify finds nothing wrong with the unit, and
// the unit runs serve on the one config with the capabilities BPF needs.
func TestUnit(t *testing.T) {
	need(t, "systemd-analyze", "systemd")
	t.Parallel()
	dir := t.TempDir()
	exe := buildXdpfw(t, dir)
	data, err := os.ReadFile("xdpfw.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	if said := verifyUnit(t, dir, unit, exe); said != "" {
		t.Errorf("systemd-analyze verify xdpfw.service:\n%s", said)
	}
	// verify does complain about a mistake (so the check above can fail).
	bad := strings.Replace(unit, "NoNewPrivileges=yes", "NoNewPrivilege=yes", 1)
	if said := verifyUnit(t, dir, bad, exe); !strings.Contains(said, "NoNewPrivilege") {
		t.Errorf("systemd-analyze verify passed a unit with an unknown key: %q", said)
	}
	for _, want := range []string{
		"\nType=notify\n", // network-pre.target waits for the config applied
		"\nExecStart=/usr/sbin/xdpfw serve --config /etc/xdpfw/xdpfw.yaml ",
		"\nExecReload=/bin/kill -HUP $MAINPID\n",
		"\nCapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_SYS_ADMIN\n",
		"\nReadWritePaths=/sys/fs/bpf\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("xdpfw.service lacks %q", strings.TrimSpace(want))
		}
	}
	// The ExecStart command line is one serve accepts.
	line := unit[strings.Index(unit, "\nExecStart=")+len("\nExecStart="):]
	args := strings.Fields(line[:strings.Index(line, "\n")])[1:]
	if out, err := exec.Command(exe, append(args, "--help")...).CombinedOutput(); err != nil || !strings.Contains(string(out), "--metrics-listen") {
		t.Errorf("xdpfw %s --help: %v\n%s", strings.Join(args, " "), err, out)
	}
}
