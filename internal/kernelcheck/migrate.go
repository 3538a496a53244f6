package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// checkMigrate runs the loader's migration tests, compiled into a static
// test binary (pkg/loader, go test -c): on this kernel the previous
// release's object (testdata/xdpfw-layoutN.o, under dir) loads and counts,
// its state is moved to this build in place, and a migration cut short at
// each step is finished by the next. Then the growth of the maps sized
// to the ruleset (vectors, value_atoms, address buckets), which replaces
// the program in place the same way: cut short once it has pinned the
// new programs, and finished by the next change (one case of each
// TestGrow test: under qemu without KVM each costs half a minute), and
// the conntrack table's resize, cut short at the same point.
func checkMigrate(r *runner, bin, dir string) {
	r.check("migrate", func() (string, error) {
		return loaderTests(bin, dir, "^TestMigrate", "migration")
	})
	r.check("grow", func() (string, error) {
		return loaderTests(bin, dir, "^TestGrow(Vectors|ValueAtoms|AddrBuckets)$/programs$", "growth")
	})
	r.check("ct resize", func() (string, error) {
		return loaderTests(bin, dir, "^TestCTResize$/programs$", "conntrack resize")
	})
}

// loaderTests runs the loader tests run matches from the test binary bin
// in dir, and says how many passed.
func loaderTests(bin, dir, run, what string) (string, error) {
	start := time.Now()
	cmd := exec.Command(bin, "-test.run", run, "-test.count=1", "-test.timeout=10m", "-test.v")
	cmd.Env = append(os.Environ(), "XDPFW_REQUIRE_PRIV=1")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return "", fmt.Errorf("%v: %s", err, strings.Join(lines[max(0, len(lines)-8):], " | "))
	}
	passed := strings.Count(string(out), "--- PASS")
	if passed == 0 {
		return "", fmt.Errorf("no %s test ran (-test.run %s)", what, run)
	}
	return fmt.Sprintf("%d %s tests passed, %s", passed, what, time.Since(start).Round(time.Second)), nil
}
