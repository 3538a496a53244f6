package xdpfilter_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/xdpfw/xdpfw/bench/workload"
	"github.com/xdpfw/xdpfw/bench/xdpfilter"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// TestSameVerdicts is the precondition of every comparison with
// xdp-filter: on the benchmark mix, its program and xdpfw enforcing the
// equivalent ruleset drop and pass exactly the same frames.
func TestSameVerdicts(t *testing.T) {
	privtest.Require(t)
	if _, err := exec.LookPath("xdp-filter"); err != nil {
		if os.Getenv("XDPFW_REQUIRE_PRIV") == "1" {
			t.Fatal("XDPFW_REQUIRE_PRIV=1 but xdp-filter is not installed (apt-get install xdp-tools)")
		}
		t.Skip("xdp-filter is not installed")
	}
	tr := workload.NewTraffic(256, 1024)
	deny := tr.Denylist(16, 8)
	f, err := xdpfilter.Load()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Deny(deny.Addrs, deny.Ports); err != nil {
		t.Fatal(err)
	}
	x, err := loader.NewInstance(deny.Ruleset(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	want, err := perf.Verdicts(x.Program(), tr.Frames)
	if err != nil {
		t.Fatal(err)
	}
	got, err := perf.Verdicts(f.Prog, tr.Frames)
	if err != nil {
		t.Fatal(err)
	}
	drops := 0
	for _, v := range want {
		if v == 1 {
			drops++
		}
	}
	if drops == 0 || drops == len(want) {
		t.Fatalf("the denylist drops %d of %d frames: the test needs both verdicts", drops, len(want))
	}
	if d := perf.Disagreements(want, got); len(d) > 0 {
		t.Fatalf("xdp-filter and xdpfw disagree on %d of %d frames, first frame %d (xdpfw %d, xdp-filter %d)",
			len(d), len(want), d[0], want[d[0]], got[d[0]])
	}
}
