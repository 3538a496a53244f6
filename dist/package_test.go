package dist

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// run runs a command in the repository root and returns its output.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMakeInstall: make install honours PREFIX and DESTDIR, installs the
// manual page, points the unit at the installed binary, and never
// overwrites an installed config.
func TestMakeInstall(t *testing.T) {
	t.Parallel()
	dest := t.TempDir()
	install := func() { run(t, "make", "-s", "install", "DESTDIR="+dest, "PREFIX=/opt/xdpfw") }
	install()
	exe := filepath.Join(dest, "opt/xdpfw/sbin/xdpfw")
	if out, err := exec.Command(exe, "serve", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "--detach-on-exit") {
		t.Errorf("installed %s serve --help: %v\n%s", exe, err, out)
	}
	unit := readFile(t, filepath.Join(dest, "opt/xdpfw/lib/systemd/system/xdpfw.service"))
	if !strings.Contains(unit, "\nExecStart=/opt/xdpfw/sbin/xdpfw serve --config /etc/xdpfw/xdpfw.yaml ") || strings.Contains(unit, "/usr/sbin/xdpfw") {
		t.Errorf("installed unit does not run the installed binary:\n%s", unit)
	}
	if got := readFile(t, filepath.Join(dest, "opt/xdpfw/share/man/man8/xdpfw.8")); got != readFile(t, "xdpfw.8") {
		t.Error("the installed manual page differs from dist/xdpfw.8")
	}
	config := filepath.Join(dest, "etc/xdpfw/xdpfw.yaml")
	if got, want := readFile(t, config), readFile(t, "xdpfw.yaml"); got != want {
		t.Errorf("installed config differs from dist/xdpfw.yaml")
	}
	edited := "policy: drop\n"
	if err := os.WriteFile(config, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	install()
	if got := readFile(t, config); got != edited {
		t.Errorf("a second make install overwrote the edited config with:\n%s", got)
	}
}

// TestDeb: make deb builds a package holding the binary, its manual page,
// the unit and the example config as a conffile, as dpkg-deb reads it back.
func TestDeb(t *testing.T) {
	need(t, "dpkg-deb", "dpkg")
	t.Parallel()
	out := t.TempDir()
	printed := strings.TrimSpace(run(t, "make", "-s", "deb", "DEB_OUT="+out, "VERSION=1.2.3"))
	arch := strings.TrimSpace(run(t, "dpkg", "--print-architecture"))
	deb := filepath.Join(out, "xdpfw_1.2.3_"+arch+".deb")
	if printed != deb {
		t.Errorf("make deb printed %q, want %q", printed, deb)
	}
	contents := run(t, "dpkg-deb", "-c", deb)
	for _, want := range []string{
		"-rwxr-xr-x root/root", "./usr/sbin/xdpfw\n",
		"./lib/systemd/system/xdpfw.service\n",
		"./etc/xdpfw/xdpfw.yaml\n",
	} {
		if !strings.Contains(contents, want) {
			t.Errorf("dpkg-deb -c lacks %q:\n%s", want, contents)
		}
	}
	info := run(t, "dpkg-deb", "-I", deb)
	for _, want := range []string{"Package: xdpfw\n", "Version: 1.2.3\n", "Architecture: " + arch + "\n", " conffiles"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb -I lacks %q:\n%s", want, info)
		}
	}
	if conf := run(t, "dpkg-deb", "-I", deb, "conffiles"); conf != "/etc/xdpfw/xdpfw.yaml\n" {
		t.Errorf("conffiles: %q", conf)
	}
	// What it installs is this tree's: unit and config as in dist/, and a
	// binary that runs (static: the package depends on nothing).
	root := t.TempDir()
	run(t, "dpkg-deb", "-x", deb, root)
	if got := readFile(t, filepath.Join(root, "lib/systemd/system/xdpfw.service")); got != readFile(t, "xdpfw.service") {
		t.Error("the packaged unit differs from dist/xdpfw.service")
	}
	if got := readFile(t, filepath.Join(root, "etc/xdpfw/xdpfw.yaml")); got != readFile(t, "xdpfw.yaml") {
		t.Error("the packaged config differs from dist/xdpfw.yaml")
	}
	if got := run(t, "zcat", filepath.Join(root, "usr/share/man/man8/xdpfw.8.gz")); got != readFile(t, "xdpfw.8") {
		t.Error("the packaged manual page differs from dist/xdpfw.8")
	}
	exe := filepath.Join(root, "usr/sbin/xdpfw")
	if out, err := exec.Command(exe, "serve", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "--metrics-listen") {
		t.Errorf("packaged xdpfw serve --help: %v\n%s", err, out)
	}
	if runtime.GOOS == "linux" {
		if out, _ := exec.Command("ldd", exe).CombinedOutput(); !strings.Contains(string(out), "not a dynamic executable") {
			t.Errorf("the packaged binary is dynamic; its package declares no dependency:\n%s", out)
		}
	}
}
