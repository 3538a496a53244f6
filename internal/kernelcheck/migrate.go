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
// release's object (testdata/xdpfw-layout7.o, under dir) loads and counts,
// its state is moved to this build in place, and a migration cut short at
// each step is finished by the next.
func checkMigrate(r *runner, bin, dir string) {
	r.check("migrate", func() (string, error) {
		start := time.Now()
		cmd := exec.Command(bin, "-test.run", "^TestMigrate", "-test.count=1", "-test.timeout=10m", "-test.v")
		cmd.Env = append(os.Environ(), "XDPFW_REQUIRE_PRIV=1")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			return "", fmt.Errorf("%v: %s", err, strings.Join(lines[max(0, len(lines)-8):], " | "))
		}
		passed := strings.Count(string(out), "--- PASS")
		return fmt.Sprintf("%d migration tests passed, %s", passed, time.Since(start).Round(time.Second)), nil
	})
}
