package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeEmptyMetricsListen: --metrics-listen given an empty address (a
// unit's --metrics-listen "$ADDR" with ADDR unset) is refused before
// anything is applied, where serve ran without metrics and said nothing.
func TestServeEmptyMetricsListen(t *testing.T) {
	dir := t.TempDir()
	pin := filepath.Join(dir, "pins")
	// In a directory that is not there: serve, reaching it, fails at
	// once instead of running on, so the test fails fast without the
	// refusal.
	cfg := filepath.Join(dir, "missing", "fw.yaml")
	for _, v := range []string{"", " "} {
		_, err := runCLI(t, pin, "", "serve", "--config", cfg, "--metrics-listen", v)
		if err == nil || !strings.Contains(err.Error(), "serve: --metrics-listen: an empty address") {
			t.Errorf("serve --metrics-listen %q: %v, want it refused", v, err)
		}
		if _, err := os.Stat(pin); !os.IsNotExist(err) {
			t.Fatalf("a refused serve made %s", pin)
		}
	}
}
