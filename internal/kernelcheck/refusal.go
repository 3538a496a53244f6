package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// refusalLimit is how long xdpfw may take to refuse a kernel it cannot
// run on: it must say so up front, not after a long verification.
const refusalLimit = 10 * time.Second

// checkRefusal is the whole suite on a kernel xdpfw does not support:
// commands that load the program exit non-zero within refusalLimit with
// exactly one line on stderr, and that line names the kernel's version.
func checkRefusal(r *runner, x *xdpfw, c config) {
	version := kernelVersion()
	rules := filepath.Join(c.testdata, "rulesets", "mixed.yaml")
	pcap := filepath.Join(c.testdata, "pcaps", "basic.pcap")
	r.check("refuse/replay", func() (string, error) {
		return refused(x.exec(refusalLimit, nil, "replay", "--rules", rules, pcap), version)
	})
	p := pair{"kn0", "kn1", 1500}
	r.check("refuse/attach", func() (string, error) {
		if err := p.create(); err != nil {
			return "", err
		}
		return refused(x.exec(refusalLimit, nil, "attach", p.dev), version)
	})
	checkDoctor(r, x, false, p)
}

func refused(res result, version string) (string, error) {
	cmd := commandLine(res.args)
	if res.err == nil {
		return "", fmt.Errorf("%s exited 0, want a refusal", cmd)
	}
	if res.elapsed >= refusalLimit {
		return "", fmt.Errorf("%s: no refusal within %v", cmd, refusalLimit)
	}
	lines := strings.Split(strings.TrimRight(res.stderr, "\n"), "\n")
	if len(lines) != 1 || lines[0] == "" {
		return "", fmt.Errorf("%s: %d lines on stderr, want one: %q", cmd, len(lines), res.stderr)
	}
	if !strings.Contains(lines[0], version) {
		return "", fmt.Errorf("%s: stderr %q does not name the kernel version %s", cmd, lines[0], version)
	}
	return fmt.Sprintf("%q in %v", lines[0], res.elapsed.Round(time.Millisecond)), nil
}

// kernelVersion is the running kernel's major.minor, e.g. "5.10".
func kernelVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "?"
	}
	release := unix.ByteSliceToString(u.Release[:])
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return release
	}
	return parts[0] + "." + parts[1]
}
