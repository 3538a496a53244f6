package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/bench/e2e"
)

// TestGeneratorMethodSaysWhyItLooped: the results' method says why the
// loop generator ran, the kernel's refusal or -generator loop, not that
// it was one or the other.
func TestGeneratorMethodSaysWhyItLooped(t *testing.T) {
	asked := generatorMethod(&e2e.Bench{Looped: true})
	if strings.Contains(asked, "refuse") || !strings.Contains(asked, "-generator loop") {
		t.Errorf("looped as asked, the method says:\n%s", asked)
	}
	refused := generatorMethod(&e2e.Bench{Looped: true, LiveRefused: errors.New("live-frames test run: operation not permitted")})
	if !strings.Contains(refused, "this kernel refuses live-frames BPF_PROG_TEST_RUN (live-frames test run: operation not permitted)") ||
		strings.Contains(refused, "-generator loop") {
		t.Errorf("looped on the kernel's refusal, the method says:\n%s", refused)
	}
}
