package perf

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Subject is one program to measure.
type Subject struct {
	Name string
	Prog *ebpf.Program
}

// Options say how hard to measure.
type Options struct {
	Repeat int // runs of each frame per BPF_PROG_TEST_RUN call
	Rounds int // measured passes over all frames, after one warm-up pass
	// Stats runs each frame once per call and reads the time from the
	// kernel's BPF run-time statistics instead: no frame is repeated back
	// to back, so caches are not flattered, but the statistics add their
	// own clock reads to every run (about 60 ns on the development VM).
	Stats bool
}

// Result is one subject's cost per packet: one figure per round and their
// median and range.
type Result struct {
	Name   string    `json:"name"`
	Rounds []float64 `json:"rounds_ns"`
	Median float64   `json:"median_ns"`
	Min    float64   `json:"min_ns"`
	Max    float64   `json:"max_ns"`
	Ratio  float64   `json:"ratio_to_first"` // median / the first subject's median
}

// Measure runs every frame through every subject, Repeat times per call,
// and takes the kernel's own timing of the runs (the mean per run, in whole
// ns, so figures carry up to 1 ns of truncation). Subjects take turns
// within each round so that noise from other load on the machine falls on
// all of them alike. The first subject is the reference for Ratio
// (usually the empty program). Frames shorter than an Ethernet header
// must be filtered out first: the kernel refuses them.
func Measure(subjects []Subject, frames [][]byte, opt Options) ([]Result, error) {
	if len(frames) == 0 {
		return nil, errNothing
	}
	return MeasureFrames(subjects, SliceFrames(frames), opt)
}

var errNothing = errors.New("nothing to measure")

// Frames gives the frames to measure to fn, one at a time, the same
// frames in the same order at each call: a pass over them. An error from
// fn stops the pass and is its error.
type Frames func(fn func(frame []byte) error) error

// SliceFrames is frames held in memory.
func SliceFrames(frames [][]byte) Frames {
	return func(fn func([]byte) error) error {
		for _, f := range frames {
			if err := fn(f); err != nil {
				return err
			}
		}
		return nil
	}
}

// MeasureFrames is Measure of frames that need not all be in memory at
// once (a capture read again at every pass): each figure is the same
// mean over every frame of a pass.
func MeasureFrames(subjects []Subject, frames Frames, opt Options) ([]Result, error) {
	if len(subjects) == 0 {
		return nil, errNothing
	}
	ho, err := NewHolder()
	if err != nil {
		return nil, err
	}
	defer ho.Close()
	for _, s := range subjects {
		if s.Prog.Type() != ebpf.XDP {
			continue // only XDP test runs switch a dispatcher
		}
		if err := ho.Hold(s.Prog); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	run := func(p *ebpf.Program) (float64, error) { return pass(p, frames, max(opt.Repeat, 1)) }
	if opt.Stats {
		stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
		if err != nil {
			return nil, fmt.Errorf("enable BPF run-time statistics: %w", err)
		}
		defer stats.Close()
		run = func(p *ebpf.Program) (float64, error) { return statsPass(p, frames) }
	}
	res := make([]Result, len(subjects))
	for round := -1; round < opt.Rounds; round++ { // round -1 warms up
		for i, s := range subjects {
			ns, err := run(s.Prog)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.Name, err)
			}
			if round >= 0 {
				res[i].Rounds = append(res[i].Rounds, ns)
			}
		}
	}
	for i := range res {
		res[i].Name = subjects[i].Name
		summarize(&res[i])
		res[i].Ratio = res[i].Median / res[0].Median
	}
	return res, nil
}

// pass is the mean cost per run over all frames.
func pass(prog *ebpf.Program, frames Frames, repeat int) (float64, error) {
	var total time.Duration
	n := 0
	err := frames(func(f []byte) error {
		_, d, err := prog.Benchmark(f, repeat, nil)
		if err != nil {
			return fmt.Errorf("frame %d (%d bytes): BPF_PROG_TEST_RUN: %w", n, len(f), err)
		}
		total += d
		n++
		return nil
	})
	switch {
	case err != nil:
		return 0, err
	case n == 0:
		return 0, errNothing
	}
	return float64(total.Nanoseconds()) / float64(n), nil
}

// statsPass is the mean run time per frame by the kernel's statistics,
// one run per frame.
func statsPass(prog *ebpf.Program, frames Frames) (float64, error) {
	before, err := prog.Stats()
	if err != nil {
		return 0, err
	}
	n := 0
	err = frames(func(f []byte) error {
		if _, err := prog.Run(&ebpf.RunOptions{Data: f}); err != nil {
			return fmt.Errorf("frame %d (%d bytes): BPF_PROG_TEST_RUN: %w", n, len(f), err)
		}
		n++
		return nil
	})
	switch {
	case err != nil:
		return 0, err
	case n == 0:
		return 0, errNothing
	}
	after, err := prog.Stats()
	if err != nil {
		return 0, err
	}
	runs := after.RunCount - before.RunCount
	if runs < uint64(n) {
		return 0, fmt.Errorf("the kernel counted %d runs, want %d", runs, n)
	}
	return float64((after.Runtime - before.Runtime).Nanoseconds()) / float64(runs), nil
}

func summarize(r *Result) {
	r.Median, r.Min, r.Max = MedianRange(r.Rounds)
}

// MedianRange is the median, smallest and largest of v (not empty).
func MedianRange(v []float64) (median, lo, hi float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	median = s[n/2]
	if n%2 == 0 {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	return median, s[0], s[n-1]
}
