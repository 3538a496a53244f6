package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCaptureEmptyIface: capture --iface "" (a script's "$IFACE" unset)
// is refused, where it was read as left out and copied every interface's
// frames for the one asked for. Refused before the state is opened.
func TestCaptureEmptyIface(t *testing.T) {
	pin := filepath.Join(t.TempDir(), "pins")
	for _, v := range []string{"", " "} {
		_, err := runCLI(t, pin, "", "capture", "-c", "1", "--iface", v)
		if err == nil || !strings.Contains(err.Error(), "capture: --iface: an empty name") {
			t.Errorf("capture --iface %q: %v, want it refused", v, err)
		}
	}
}
