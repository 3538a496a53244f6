package e2e_test

import (
	"errors"
	"testing"

	"github.com/xdpfw/xdpfw/bench/e2e"
	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// TestReceiversSeeTraffic floods each kind of receiver briefly, from each
// generator: the frames must arrive. Rates are timings and are not judged.
func TestReceiversSeeTraffic(t *testing.T) {
	privtest.Require(t)
	for _, src := range []e2e.Source{e2e.LiveFrames, e2e.Loop} {
		t.Run(src.String(), func(t *testing.T) { receiversSeeTraffic(t, src) })
	}
}

func receiversSeeTraffic(t *testing.T, src e2e.Source) {
	plan := e2e.Plan{Addrs: 8, Ports: 4}
	b, err := e2e.NewBench(plan, src)
	if errors.Is(err, e2e.ErrLiveRefused) {
		t.Skipf("%v; the loop generator is tested instead", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if b.Looped != (src == e2e.Loop) {
		t.Errorf("asked for the %s generator, looped: %v", src, b.Looped)
	}
	defer b.Close()
	drop, err := e2e.DropProgram()
	if err != nil {
		t.Fatal(err)
	}
	defer drop.Close()
	x, err := loader.NewInstance(plan.Denylist().Ruleset(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	recvs := []e2e.Receiver{e2e.XDP("drop", drop), e2e.XDP("xdpfw", x.Program()),
		e2e.Nftables(plan.Denylist()), e2e.Iptables(plan.Denylist())}
	rates, err := b.Measure(recvs, e2e.Options{Seconds: 0.05, Rounds: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rates {
		if r.RecvMedian <= 0 || r.SentMedian <= 0 {
			t.Errorf("%s: received %.0f, sent %.0f frames/s", r.Name, r.RecvMedian, r.SentMedian)
		}
	}
	// xdpfw must have dropped what it received: the plan denies every
	// generated frame. The kernel's own few frames (IPv6 neighbour
	// discovery, MLD from the generator's side) pass.
	c, err := x.VerdictCounters()
	if err != nil {
		t.Fatal(err)
	}
	if c["drop"].Packets == 0 || c["pass"].Packets > 10 {
		t.Errorf("xdpfw's verdicts on the flood: %+v, want drops only", c)
	}
}

// TestTouchProgramDrops runs the touch-and-drop receiver on a whole frame
// and on one too short for its reads: it loads (the verifier accepts its
// bounds check) and drops both.
func TestTouchProgramDrops(t *testing.T) {
	privtest.Require(t)
	prog, err := e2e.TouchProgram()
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	frame := fixtures.UDP("10.1.0.1", "192.0.2.1", 1, 10000)
	got, err := perf.Verdicts(prog, [][]byte{frame, frame[:14]})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != 1 {
			t.Errorf("frame %d: verdict %d, want XDP_DROP (1)", i, v)
		}
	}
}
