package e2e_test

import (
	"testing"

	"github.com/xdpfw/xdpfw/bench/e2e"
)

// TestRateOver: a ratio pairs each round's two rates; the ratio of the
// two medians (2 here) would pair rates of different rounds.
func TestRateOver(t *testing.T) {
	a := e2e.Rate{Recv: []float64{10, 20, 30}}
	b := e2e.Rate{Recv: []float64{10, 5, 60}}
	if got := a.Over(b); got != 1 {
		t.Errorf("a over b: %v, want 1 (the median of 1, 4 and 0.5)", got)
	}
	if got := b.Over(a); got != 1 {
		t.Errorf("b over a: %v, want 1 (the median of 1, 0.25 and 2)", got)
	}
}
