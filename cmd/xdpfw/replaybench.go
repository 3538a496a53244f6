package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/perf"
	"github.com/xdpfw/xdpfw/pkg/replay"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// benchReport is what `replay --bench` prints.
type benchReport struct {
	Frames  int           `json:"frames"`
	Skipped int           `json:"skipped"` // runts: they never reach XDP
	Rules   int           `json:"rules"`
	Repeat  int           `json:"repeat"`
	Rounds  int           `json:"rounds"`
	Results []perf.Result `json:"results"` // the empty program first
}

func replayBench(c *cli.Context) error {
	if c.Bool("verify") || c.Bool("summary") {
		return fmt.Errorf("replay: --bench measures cost and shows no verdicts: drop --verify and --summary")
	}
	if c.Int("repeat") < 1 || c.Int("rounds") < 1 {
		return fmt.Errorf("replay: --repeat and --rounds must be at least 1")
	}
	rep := benchReport{Repeat: c.Int("repeat"), Rounds: c.Int("rounds")}
	var frames [][]byte
	for _, path := range c.Args().Slice() {
		fs, err := replay.ReadFrames(path)
		if err != nil {
			return err
		}
		for _, f := range fs {
			if len(f.Data) < 14 {
				rep.Skipped++
				continue
			}
			frames = append(frames, f.Data)
		}
	}
	if len(frames) == 0 {
		return fmt.Errorf("replay: no frame to measure (%d too short to reach XDP)", rep.Skipped)
	}
	rep.Frames = len(frames)
	err := withInstance(c, false, func(t *loader.Instance, rs *rules.Ruleset) error {
		empty, err := perf.EmptyProgram()
		if err != nil {
			return err
		}
		defer empty.Close()
		rep.Rules = len(rs.Rules)
		rep.Results, err = perf.Measure([]perf.Subject{
			{Name: "empty XDP program", Prog: empty},
			{Name: fmt.Sprintf("xdpfw (%d rules)", len(rs.Rules)), Prog: t.ProgramFor(frames)},
		}, frames, perf.Options{Repeat: rep.Repeat, Rounds: rep.Rounds})
		return err
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c, rep)
	}
	tw := newTable(c)
	fmt.Fprintln(tw, "PROGRAM\tNS/PKT\tMIN\tMAX\tRATIO")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.2f\n", r.Name, r.Median, r.Min, r.Max, r.Ratio)
	}
	tw.Flush()
	x, e := rep.Results[1], rep.Results[0]
	fmt.Fprintf(c.App.Writer, "\nframes: %d (skipped: %d)  repeat: %d  rounds: %d  xdpfw above the empty program: %.1f ns/pkt\n",
		rep.Frames, rep.Skipped, rep.Repeat, rep.Rounds, x.Median-e.Median)
	return nil
}
