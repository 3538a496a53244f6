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
	cfg := filepath.Join(dir, "fw.yaml")
	if err := os.WriteFile(cfg, []byte("policy: pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
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
