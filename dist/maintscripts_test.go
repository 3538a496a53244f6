package dist

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestDebMaintainerScripts runs the package's maintainer scripts as dpkg
// would, with the tools they call replaced by stubs that record their
// arguments, in a mount namespace whose /run says whether systemd runs
// (root, for the namespace). A removal stops the service (there was no
// prerm: the service ran on with its binary gone) and masks it, a purge
// removes what an enable made, an upgrade restarts a running service; a
// host without deb-systemd-helper and deb-systemd-invoke, or a dpkg
// working on another root, is no failure.
func TestDebMaintainerScripts(t *testing.T) {
	need(t, "dpkg-deb", "dpkg")
	need(t, "unshare", "util-linux")
	privtest.Require(t)
	t.Parallel()
	out := t.TempDir()
	deb := strings.TrimSpace(run(t, "make", "-s", "deb", "DEB_OUT="+out, "VERSION=1.2.3"))
	ctl := t.TempDir()
	run(t, "dpkg-deb", "-e", deb, ctl)
	for _, name := range []string{"postinst", "prerm", "postrm"} {
		fi, err := os.Stat(filepath.Join(ctl, name))
		if err != nil {
			t.Fatalf("the package has no %s: %v", name, err)
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("%s is %v, want 0755", name, fi.Mode().Perm())
		}
	}

	all := []string{"deb-systemd-helper", "deb-systemd-invoke", "systemctl"}
	// script runs ctl/name with args and returns the calls it made, one
	// a line. tools are the commands there are (stubs: PATH holds
	// nothing else), systemd whether /run/systemd/system exists.
	script := func(name string, tools []string, systemd bool, env []string, args ...string) string {
		t.Helper()
		dir := t.TempDir()
		stubs, log := filepath.Join(dir, "bin"), filepath.Join(dir, "calls")
		if err := os.Mkdir(stubs, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, tool := range tools {
			stub := fmt.Sprintf("#!/bin/sh\necho \"%s $*\" >> %s\n", tool, log)
			if err := os.WriteFile(filepath.Join(stubs, tool), []byte(stub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		setup := "mount -t tmpfs tmpfs /run"
		if systemd {
			setup += " && mkdir -p /run/systemd/system"
		}
		cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "/bin/sh", "-c",
			setup + ` && PATH="$0" exec /bin/sh "$@"`, stubs, filepath.Join(ctl, name)}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s %s (tools %v, systemd %v, env %v): %v\n%s", name, strings.Join(args, " "), tools, systemd, env, err, b)
		}
		calls, err := os.ReadFile(log)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return string(calls)
	}
	for _, tc := range []struct {
		script  string
		args    []string
		tools   []string
		systemd bool
		env     []string
		want    string
	}{
		{"prerm", []string{"remove"}, all, true, nil, "deb-systemd-invoke stop xdpfw.service\n"},
		{"prerm", []string{"remove"}, []string{"systemctl"}, true, nil, "systemctl stop xdpfw.service\n"},
		{"prerm", []string{"remove"}, all, false, nil, ""},
		{"prerm", []string{"remove"}, all, true, []string{"DPKG_ROOT=/tmp/elsewhere"}, ""},
		{"prerm", []string{"upgrade", "1.2.4"}, all, true, nil, ""},
		{"postrm", []string{"remove"}, all, true, nil, "systemctl --system daemon-reload\ndeb-systemd-helper mask xdpfw.service\n"},
		{"postrm", []string{"remove"}, nil, false, nil, ""},
		{"postrm", []string{"purge"}, all, false, nil, "deb-systemd-helper purge xdpfw.service\ndeb-systemd-helper unmask xdpfw.service\n"},
		{"postrm", []string{"purge"}, nil, false, nil, ""},
		{"postinst", []string{"configure", ""}, all, true, nil,
			"deb-systemd-helper unmask xdpfw.service\ndeb-systemd-helper update-state xdpfw.service\nsystemctl --system daemon-reload\n"},
		{"postinst", []string{"configure", "1.2.2"}, all, true, nil,
			"deb-systemd-helper unmask xdpfw.service\ndeb-systemd-helper update-state xdpfw.service\nsystemctl --system daemon-reload\ndeb-systemd-invoke try-restart xdpfw.service\n"},
		{"postinst", []string{"configure", "1.2.2"}, nil, false, nil, ""},
	} {
		if got := script(tc.script, tc.tools, tc.systemd, tc.env, tc.args...); got != tc.want {
			t.Errorf("%s %q (tools %v, systemd running %v, env %v) called:\n%s\nwant:\n%s", tc.script, tc.args, tc.tools, tc.systemd, tc.env, got, tc.want)
		}
	}
}
