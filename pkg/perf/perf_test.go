package perf_test

import (
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// TestMeasure runs both methods over a small mix. Timings are noise on a
// shared machine, so only their presence and shape are checked.
func TestMeasure(t *testing.T) {
	privtest.Require(t)
	_, frames := fixtures.Mix(16, 64, 1)
	a, err := perf.EmptyProgram()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := perf.EmptyProgram()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	subjects := []perf.Subject{{Name: "a", Prog: a}, {Name: "b", Prog: b}}
	for _, stats := range []bool{false, true} {
		res, err := perf.Measure(subjects, frames, perf.Options{Repeat: 8, Rounds: 3, Stats: stats})
		if err != nil {
			t.Fatalf("stats=%v: %v", stats, err)
		}
		if len(res) != 2 || len(res[1].Rounds) != 3 || res[0].Ratio != 1 || res[1].Name != "b" {
			t.Fatalf("stats=%v: unexpected result %+v", stats, res)
		}
		if res[1].Min > res[1].Median || res[1].Median > res[1].Max {
			t.Errorf("stats=%v: median %v outside [%v, %v]", stats, res[1].Median, res[1].Min, res[1].Max)
		}
	}
}
