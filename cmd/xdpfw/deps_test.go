package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoGopacketLayers keeps gopacket's layers package out of the xdpfw
// binary: its package init fills 65,536-entry tables, about 17 ms and
// 1,800 page faults on every invocation, even `xdpfw --help`, whatever
// the command (Go runs every linked package's init). The model and replay
// read and write frames themselves; tests may still build frames with it.
func TestNoGopacketLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/google/gopacket") {
			t.Errorf("xdpfw links %s", pkg)
		}
	}
}
