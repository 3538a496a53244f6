package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// When XDPFW_TEST_MAIN is set, the test binary is the xdpfw binary: the
// tests below run it as a child process to see exit codes and stderr.
func TestMain(m *testing.M) {
	if os.Getenv("XDPFW_TEST_MAIN") == "1" {
		os.Args = append([]string{"xdpfw"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runMain runs xdpfw in a child process, optionally as another user.
func runMain(t *testing.T, exe string, uid int, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "XDPFW_TEST_MAIN=1")
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// copyExecutable puts a copy of the test binary where any user may run it
// (go test's build directory is private to root).
func copyExecutable(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "xdpfw-cli-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	exe := filepath.Join(dir, "xdpfw")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}

// TestEnvironmentErrors: no root and no BPF filesystem each give one clear
// line on stderr and exit 1.
func TestEnvironmentErrors(t *testing.T) {
	privtest.Require(t)
	exe := copyExecutable(t)
	notBPF := filepath.Join(t.TempDir(), "xdpfw")
	cases := []struct {
		name string
		uid  int
		args []string
		want string
	}{
		{"not root", 65534, []string{"status"}, "needs root"},
		{"not root, replay", 65534, []string{"replay", "--rules", "x.yaml", "x.pcap"}, "x.yaml"},
		{"no bpffs", 0, []string{"--pin-dir", notBPF, "attach", "lo"}, "is not on a BPF filesystem ("},
		{"nothing attached", 0, []string{"--pin-dir", notBPF + "/../../nonexistent-xdpfw", "status"}, ""},
		{"bad flag", 0, []string{"rule", "add", "--sauce", "x"}, "rule add: unknown flag --sauce (see: xdpfw rule add --help)"},
		{"bad global flag", 0, []string{"--sauce", "status"}, "xdpfw: unknown flag --sauce"},
		{"flag of another command", 0, []string{"rule", "add", "--json"}, "rule add: unknown flag --json (see"},
		{"short flag", 0, []string{"capture", "-c", "x"}, `invalid value "x" for flag -c: `},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runMain(t, exe, tc.uid, tc.args...)
			if code != 1 {
				t.Errorf("exit code %d, want 1 (stderr %q)", code, stderr)
			}
			if stdout != "" {
				t.Errorf("printed on stdout: %q", stdout)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "xdpfw: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q: want one line starting \"xdpfw: \" and containing %q", stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat(notBPF); !os.IsNotExist(err) {
		t.Errorf("a failed attach left %s behind", notBPF)
	}
}

func TestInterspersed(t *testing.T) {
	app := newApp(nil, nil)
	cases := []struct{ in, want string }{
		{"xdpfw attach eth0 --mode generic", "xdpfw attach --mode generic -- eth0"},
		{"xdpfw --pin-dir /x attach eth0 eth1 --force", "xdpfw --pin-dir /x attach --force -- eth0 eth1"},
		{"xdpfw rule add --dport 22 --action drop", "xdpfw rule add --dport 22 --action drop"},
		{"xdpfw rule del 3 4", "xdpfw rule del -- 3 4"},
		{"xdpfw replay a.pcap --rules r.yaml --json b.pcap", "xdpfw replay --rules r.yaml --json -- a.pcap b.pcap"},
		{"xdpfw detach --all", "xdpfw detach --all"},
		{"xdpfw replay --rules=r.yaml a.pcap", "xdpfw replay --rules=r.yaml -- a.pcap"},
		{"xdpfw status", "xdpfw status"},
		{"xdpfw apply -f - --check", "xdpfw apply -f - --check"},
		{"xdpfw apply --json -f r.yaml", "xdpfw apply --json -f r.yaml"},
		{"xdpfw apply -f r.yaml --check --against-capture a.pcap b.pcap --against-capture c,d.pcap", "xdpfw apply -f r.yaml --check --against-capture a.pcap --against-capture c,d.pcap -- b.pcap"},
	}
	for _, tc := range cases {
		got := strings.Join(interspersed(app, strings.Fields(tc.in)), " ")
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s\n got: %s\nwant: %s", tc.in, got, tc.want)
		}
	}
}

// TestUnknownCommand: a word that names no command, at the top or under
// one with subcommands, fails in one line naming it and the help to read
// (urfave/cli said "No help topic for 'bogus'"), before any state is read;
// help, at the top and under a command, still works.
func TestUnknownCommand(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ args, want string }{
		{"bogus", `xdpfw: unknown command "bogus" (see: xdpfw --help)`},
		{"--pin-dir /nonexistent/xdpfw bogus --all", `xdpfw: unknown command "bogus" (see: xdpfw --help)`},
		{"rule bogus", `xdpfw: rule: unknown command "bogus" (see: xdpfw rule --help)`},
		{"set bogus bl 192.0.2.1", `xdpfw: set: unknown command "bogus" (see: xdpfw set --help)`},
		// Help's topic too: urfave/cli said No help topic for 'bogus'.
		{"help bogus", `xdpfw: unknown command "bogus" (see: xdpfw --help)`},
		{"h bogus", `xdpfw: unknown command "bogus" (see: xdpfw --help)`},
		{"rule help bogus", `xdpfw: rule: unknown command "bogus" (see: xdpfw rule --help)`},
		// Past the first word as well: help rule bogus showed rule's.
		{"help rule bogus", `xdpfw: rule: unknown command "bogus" (see: xdpfw rule --help)`},
		{"help set create x", `xdpfw: set create has no subcommands, "x" is none (see: xdpfw set create --help)`},
	} {
		stdout, stderr, code := runMain(t, exe, 0, strings.Fields(tc.args)...)
		if code == 0 || stdout != "" || stderr != tc.want+"\n" {
			t.Errorf("xdpfw %s: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	for _, tc := range []struct{ args, want string }{
		{"rule help", "xdpfw rule - "},
		{"help rule", "xdpfw rule - "},
		{"rule help add", "xdpfw rule add - "},
		// The whole path: help set create showed set's help.
		{"help set create", "xdpfw set create - "},
		{"help ct list", "xdpfw ct list - "},
		{"h rule del", "xdpfw rule del - "},
		{"help help", "help - "},
		// Under a command: it said No help topic for 'set', exit 1.
		{"help set help", "xdpfw set help - "},
		{"help", "xdpfw - an XDP firewall"},
		// Arguments before --help: urfave/cli took the first for a
		// subcommand to show, No help topic for 'eth0'.
		{"attach eth0 --help", "xdpfw attach - "},
		{"set create x -h", "xdpfw set create - "},
	} {
		if stdout, stderr, code := runMain(t, exe, 0, strings.Fields(tc.args)...); code != 0 || !strings.Contains(stdout, tc.want) || stderr != "" {
			t.Errorf("xdpfw %s: exit %d, stdout %q, stderr %q", tc.args, code, stdout, stderr)
		}
	}
}

// TestGlobalFlagAfterCommand: the global --pin-dir given after the
// command is refused in one line saying where it goes, before any state
// is read: urfave/cli said "flag provided but not defined: -pin-dir".
func TestGlobalFlagAfterCommand(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"status --pin-dir /nonexistent/x", "status: --pin-dir is a global flag: put it before the command (xdpfw --pin-dir DIR status)"},
		{"rule list --pin-dir=/nonexistent/x", "rule list: --pin-dir is a global flag: put it before the command (xdpfw --pin-dir DIR rule list)"},
		{"attach eth0 -pin-dir /nonexistent/x", "attach: --pin-dir is a global flag: put it before the command (xdpfw --pin-dir DIR attach)"},
		{"rule --pin-dir /nonexistent/x list", "rule: --pin-dir is a global flag: put it before the command (xdpfw --pin-dir DIR rule)"},
	} {
		_, _, err := runAppStderr(strings.Fields(tc.args)...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("xdpfw %s: %v, want %q", tc.args, err, tc.want)
		}
	}
}
