package main

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/bench/e2e"
	"github.com/xdpfw/xdpfw/bench/workload"
	"github.com/xdpfw/xdpfw/bench/xdpfilter"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// profileWarm runs the shared denylist's frames through one program (xdpfw
// or xdp-filter, as the xdp-filter part loads them) the way the repeat
// method does, for secs, while perf samples the CPU it runs on: where the
// warm figure's time goes, by kernel symbol and by the program's source
// line. No timing is asserted.
func profileWarm(cfg Config, name string, secs float64, top int, w io.Writer) error {
	perfBin, err := perfTool("-profile-warm")
	if err != nil {
		return err
	}
	tr := workload.NewTraffic(cfg.Flows, cfg.Frames)
	deny := tr.Denylist(cfg.DenyAddrs, cfg.DenyPorts)
	var prog *ebpf.Program
	switch name {
	case "xdpfw":
		x, err := loader.NewInstance(deny.Ruleset(), false)
		if err != nil {
			return err
		}
		defer x.Close()
		prog = x.Program()
	case "xdp-filter":
		f, err := xdpfilter.Load()
		if err != nil {
			return err
		}
		defer f.Close()
		if err := f.Deny(deny.Addrs, deny.Ports); err != nil {
			return err
		}
		prog = f.Prog
	default:
		return fmt.Errorf("-profile-warm takes xdpfw or xdp-filter, not %q", name)
	}
	// Attached, as the repeat method measures it (perf.Holder says why).
	ho, err := perf.NewHolder()
	if err != nil {
		return err
	}
	defer ho.Close()
	if err := ho.Hold(prog); err != nil {
		return err
	}

	// The runs stay on the CPU perf samples.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const cpu = 0
	if err := e2e.PinTo(0, cpu); err != nil {
		return fmt.Errorf("pin to CPU %d: %w", cpu, err)
	}
	var runs int
	samples, err := sampleCPU(perfBin, cpu, secs, func() error {
		for end := time.Now().Add(time.Duration(secs * float64(time.Second))); time.Now().Before(end); {
			for _, f := range tr.Frames {
				if _, _, err := prog.Benchmark(f, cfg.Repeat, nil); err != nil {
					return fmt.Errorf("BPF_PROG_TEST_RUN: %w", err)
				}
			}
			runs += len(tr.Frames) * cfg.Repeat
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s, warm (repeat %d) on the shared denylist: %d runs in %.1f s; CPU %d sampled (%d samples)\n\n",
		name, cfg.Repeat, runs, secs, cpu, len(samples))
	printProfile(w, samples, cpu, prog, top, "")
	return nil
}
