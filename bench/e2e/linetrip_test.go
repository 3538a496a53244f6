package e2e_test

import (
	"runtime"
	"testing"

	"github.com/xdpfw/xdpfw/bench/e2e"
)

// TestLineRoundTrip: the two sides finish, and a CPU that cannot be had
// is an error, not a side spinning for ever. The time is not judged.
func TestLineRoundTrip(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU: the round trip needs two")
	}
	ns, err := e2e.LineRoundTrip(0, 1, 500, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !(ns > 0) {
		t.Fatalf("round trip %v ns", ns)
	}
	// CPU 1000 is in the kernel's mask's range and online nowhere here.
	if _, err := e2e.LineRoundTrip(0, 1000, 500, 3); err == nil {
		t.Error("the answering side on a CPU that does not exist: no error")
	}
	if _, err := e2e.LineRoundTrip(1000, 0, 500, 3); err == nil {
		t.Error("the writing side on a CPU that does not exist: no error")
	}
}
