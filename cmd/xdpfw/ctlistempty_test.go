package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCTListEmptyFilter: a filter given an empty value (a script's
// --addr "$IP" with IP unset) is refused, where it was read as left out
// and every flow was listed as the ones asked for. Refused before the
// state is opened: no live state is needed.
func TestCTListEmptyFilter(t *testing.T) {
	pin := filepath.Join(t.TempDir(), "pins")
	for _, flag := range []string{"--proto", "--addr", "--state"} {
		for _, v := range []string{"", " "} {
			_, err := runCLI(t, pin, "", "ct", "list", flag, v)
			if err == nil || !strings.Contains(err.Error(), "ct list: "+flag+": an empty value") {
				t.Errorf("ct list %s %q: %v, want it refused", flag, v, err)
			}
		}
	}
}
