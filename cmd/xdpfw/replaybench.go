package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/perf"
	"github.com/xdpfw/xdpfw/pkg/replay"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// benchReport is what `replay --bench` prints.
type benchReport struct {
	Frames    int            `json:"frames"`
	Skipped   int            `json:"skipped"`   // frames that never reach XDP, or the test run refuses
	Truncated int            `json:"truncated"` // cut by the snap length: not measured
	Left      []benchSkipped `json:"skipped_frames"`
	Rules     int            `json:"rules"`
	Repeat    int            `json:"repeat"`
	Rounds    int            `json:"rounds"`
	Results   []perf.Result  `json:"results"` // the empty program first
	Errors    []string       `json:"errors"`  // captures that could not be read to their end
}

// benchSkipped is a frame left out of the measurement, numbered as replay
// numbers it: from 1 within its file.
type benchSkipped struct {
	File   string `json:"file"`
	Index  int    `json:"frame"`
	Reason string `json:"reason"`
}

// refuseBenchFlags refuses the flags that only mean something with
// --bench: a replay or a diff given them would run as if they were not.
func refuseBenchFlags(c *cli.Context) error {
	if c.Bool("bench") {
		return nil
	}
	for _, f := range []string{"repeat", "rounds"} {
		if c.IsSet(f) {
			return fmt.Errorf("replay: --%s goes with --bench (xdpfw replay --bench --%s N ...)", f, f)
		}
	}
	return nil
}

func replayBench(c *cli.Context) error {
	if c.Bool("verify") || c.Bool("summary") {
		return fmt.Errorf("replay: --bench measures cost and shows no verdicts: drop --verify and --summary")
	}
	// Every frame is measured arriving on loopback, and only the
	// capture's own direction leaves frames out: a --iface or --local
	// measured would be another run than the one asked for.
	for _, f := range []string{"iface", "local"} {
		if c.IsSet(f) {
			return fmt.Errorf("replay: --bench runs every frame as arriving on loopback, leaving out those the capture marks outgoing: drop --%s", f)
		}
	}
	rep := benchReport{Repeat: int(decimalValue(c, "repeat")), Rounds: int(decimalValue(c, "rounds")), Left: []benchSkipped{}, Results: []perf.Result{}, Errors: []string{}}
	files := c.Args().Slice()
	err := withInstance(c, false, func(t *loader.Instance, rs *rules.Ruleset) error {
		// Only frames the program can be given are measured: each is tried
		// once first, so a refusal is a skipped frame, not a failed run.
		// Their count and the longest is all that is kept of them, but
		// for the captures that cannot be read again (heldFrames).
		longest := 0
		held := heldFrames{}
		err := replay.EachFrame(files, func(file string, f replay.Frame) error {
			var reason string
			switch {
			case f.Skip != "":
				reason = f.Skip
				rep.Skipped++
			case f.Out:
				// XDP never sees a frame the host sends.
				reason = "outgoing (sent by the capturing host): XDP never receives it"
				rep.Skipped++
			case f.Truncated():
				reason = fmt.Sprintf("truncated: captured %d of %d bytes", len(f.Data), f.WireLen)
				rep.Truncated++
			default:
				if _, err := t.RunOn(f.Data, 0); err != nil {
					var ok bool
					if reason, ok = replay.Unrunnable(f.Data, err); !ok {
						return fmt.Errorf("%s frame %d: %w", file, f.Index, err)
					}
					rep.Skipped++
				}
			}
			if reason != "" {
				rep.Left = append(rep.Left, benchSkipped{file, f.Index, reason})
				return nil
			}
			rep.Frames++
			longest = max(longest, len(f.Data))
			held.add(file, f.Data)
			return nil
		}, func(err error) { rep.Errors = append(rep.Errors, err.Error()) })
		if err != nil {
			return err
		}
		if rep.Frames == 0 && len(rep.Left) == 0 && len(rep.Errors) > 0 {
			return nothingRead(c, rep.Errors, c.NArg())
		}
		if rep.Frames == 0 {
			for _, e := range rep.Errors {
				fmt.Fprintf(c.App.ErrWriter, "xdpfw: %s\n", e)
			}
			return fmt.Errorf("replay: no frame to measure (%d skipped, %d truncated)", rep.Skipped, rep.Truncated)
		}
		empty, err := perf.EmptyProgram()
		if err != nil {
			return err
		}
		defer empty.Close()
		rep.Rules = len(rs.Rules)
		rep.Results, err = perf.MeasureFrames([]perf.Subject{
			{Name: "empty XDP program", Prog: empty},
			{Name: fmt.Sprintf("xdpfw (%s)", count(len(rs.Rules), "rule")), Prog: t.ProgramForLength(longest)},
		}, measuredFrames(files, rep, held), perf.Options{Repeat: rep.Repeat, Rounds: rep.Rounds})
		return err
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if err := printJSON(c, rep); err != nil {
			return err
		}
		return replayErrors(c, rep.Errors, 0, 0, c.NArg())
	}
	tw := newTable(c)
	fmt.Fprintln(tw, "PROGRAM\tNS/PKT\tMIN\tMAX\tRATIO")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.2f\n", r.Name, r.Median, r.Min, r.Max, r.Ratio)
	}
	tw.Flush()
	x, e := rep.Results[1], rep.Results[0]
	fmt.Fprintf(c.App.Writer, "\nframes: %d (skipped: %d, truncated: %d)  repeat: %d  rounds: %d  xdpfw above the empty program: %.1f ns/pkt\n",
		rep.Frames, rep.Skipped, rep.Truncated, rep.Repeat, rep.Rounds, x.Median-e.Median)
	if len(rep.Left) > 0 {
		fmt.Fprintln(c.App.Writer)
		tw := newTable(c)
		fmt.Fprintln(tw, "FILE\tFRAME\tNOT MEASURED")
		for _, s := range rep.Left {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", s.File, s.Index, s.Reason)
		}
		tw.Flush()
	}
	return replayErrors(c, rep.Errors, 0, 0, c.NArg())
}

// errPassDone ends a pass over the captures at the last frame measured.
var errPassDone = errors.New("pass done")

// heldFrames are the measured frames of the captures that cannot be
// read again, in the order read: those that are not regular files (a
// pipe, /dev/stdin, a shell's <(zcat x.pcap.gz)), which a second reading
// finds empty, or blocks on (a named pipe waits for a writer). A
// directory's captures are regular files (replay.EachFrame).
type heldFrames struct {
	frames [][]byte
	n      int             // frames measured of the captures read again
	again  map[string]bool // rereadable, by file, once looked at
}

// rereadable says whether the capture or directory at path can be read
// again; one that cannot be opened is, to be passed over again.
func rereadable(path string) bool {
	if path == replay.Stdin {
		return false
	}
	fi, err := os.Stat(path)
	return err != nil || fi.IsDir() || fi.Mode().IsRegular()
}

// add keeps the measured frame data of file if file cannot be read again.
func (h *heldFrames) add(file string, data []byte) {
	if h.again == nil {
		h.again = map[string]bool{}
	}
	again, ok := h.again[file]
	if !ok {
		again = rereadable(file)
		h.again[file] = again
	}
	if again {
		h.n++
		return
	}
	h.frames = append(h.frames, bytes.Clone(data))
}

// measuredFrames are the frames rep measures, the captures read again at
// each pass (so the figures are over every frame, as before, in memory
// that does not grow with the captures: holding them all took their size
// again): those the first reading left out (rep.Left) are passed over,
// and a pass ends at the rep.Frames-th frame, a capture written to
// meanwhile giving no more. The frames of captures that cannot be read
// again (held) are measured from memory, first.
func measuredFrames(files []string, rep benchReport, held heldFrames) perf.Frames {
	left := map[benchSkipped]bool{}
	for _, l := range rep.Left {
		left[benchSkipped{File: l.File, Index: l.Index}] = true
	}
	var again []string // the captures and directories read again
	for _, f := range files {
		if rereadable(f) {
			again = append(again, f)
		}
	}
	return func(fn func([]byte) error) error {
		n := 0
		for _, data := range held.frames {
			n++
			if err := fn(data); err != nil {
				return err
			}
		}
		if held.n == 0 {
			return nil
		}
		err := replay.EachFrame(again, func(file string, f replay.Frame) error {
			switch {
			case n == rep.Frames:
				return errPassDone
			case left[benchSkipped{File: file, Index: f.Index}]:
				return nil
			}
			n++
			return fn(f.Data)
		}, func(error) {}) // the first reading reported them
		switch {
		case errors.Is(err, errPassDone):
		case err != nil:
			return err
		case n < rep.Frames:
			return fmt.Errorf("replay: the captures changed while measured: %d of their %d frames read again", n, rep.Frames)
		}
		return nil
	}
}
