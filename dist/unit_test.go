package dist

import (
	"cmp"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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
		"\nCapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_SYS_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH\n",
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

// TestUnitKeepsRestarting: the unit restarts a failing serve for good, at
// a pace of seconds: its start limit (StartLimitBurst starts within
// StartLimitIntervalSec, [Unit]) is off or never reached at RestartSec
// apart. The defaults (5 in 10 s) with RestartSec=2s gave up after 10 s
// of failing starts, at boot before what the service needs was there.
func TestUnitKeepsRestarting(t *testing.T) {
	data, err := os.ReadFile("xdpfw.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := unitSections(string(data))
	if r := unit["Service"]["Restart"]; r != "on-failure" && r != "always" {
		t.Errorf("Restart=%s: a failing serve is not restarted", r)
	}
	pace := timeSpan(t, "RestartSec", cmp.Or(unit["Service"]["RestartSec"], "100ms"))
	if pace < time.Second || pace > time.Minute {
		t.Errorf("RestartSec=%s: want a restart every few seconds, not a tight loop or a long gap", pace)
	}
	interval := timeSpan(t, "StartLimitIntervalSec", cmp.Or(unit["Unit"]["StartLimitIntervalSec"], "10s"))
	burst, err := strconv.Atoi(cmp.Or(unit["Unit"]["StartLimitBurst"], "5"))
	if err != nil {
		t.Fatalf("StartLimitBurst: %v", err)
	}
	if interval != 0 && time.Duration(burst)*pace <= interval {
		t.Errorf("%d starts %s apart fit in StartLimitIntervalSec=%s: systemd gives up on a failing serve after %s",
			burst, pace, interval, time.Duration(burst)*pace)
	}
}

// unitSections is a unit file's keys by section (the last of a key given
// twice).
func unitSections(text string) map[string]map[string]string {
	out := map[string]map[string]string{}
	section := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			if out[section] == nil {
				out[section] = map[string]string{}
			}
			out[section][strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// timeSpan reads a systemd time span of one unit ("5s", "2min", "500ms",
// a bare number of seconds, "infinity": a start limit's interval that
// never ends, which counts every start).
func timeSpan(t *testing.T, key, v string) time.Duration {
	t.Helper()
	if v == "infinity" {
		return math.MaxInt64
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		v += "s"
	}
	for long, short := range map[string]string{"min": "m", "sec": "s", "hr": "h"} {
		v = strings.Replace(v, long, short, 1)
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%s: %v", key, v, err)
	}
	return d
}
