package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/internal/progress"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

func topCommand() *cli.Command {
	return &cli.Command{
		Name:  "top",
		Usage: "live packets and bytes per second, per rule and per verdict",
		Description: `Reads the rule and verdict counters every --interval (default 1s) and
shows how much each rule and each verdict took since the last read, per
second, in evaluation order, redrawing the terminal until interrupted
(on a pipe or in a file, each interval's table follows the last's, a
blank line apart, with no control characters).

With --once it reads the counters, waits --interval, reads them again and
prints that one interval (saying on standard error when the first read is
done); --json prints it as JSON: each rule (with the fields rule list
--json gives it) and verdict with its counts at the second read, their
change (packets_delta, bytes_delta) and rates, and the exact time between
the reads (interval_seconds). Without --once,
--json prints one such object per line, one per interval.

The state is locked only while it is read, so other commands run meanwhile.
A rule added since the last read counts from zero; one an apply renumbered
since (a rule inserted above it) is followed under its new id. Rules are
followed by their counter slot: a rule deleted and added back unchanged
within one interval takes its old slot and is taken for the old rule (its
interval shows the new counts less the old, or none when they are fewer).

  xdpfw top
  xdpfw top --once --interval 5s --json`,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "time `D` between reads (e.g. 500ms, 5s)"},
			&cli.BoolFlag{Name: "once", Usage: "print one interval and exit"},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c, "top"); err != nil {
				return err
			}
			every := c.Duration("interval")
			if every < 10*time.Millisecond {
				return fmt.Errorf("top: --interval %s is too short (at least 10ms)", every)
			}
			before, at, err := readTimed(c, (*loader.State).Snapshot)
			if err != nil {
				return err
			}
			if c.Bool("once") {
				fmt.Fprintf(c.App.ErrWriter, "xdpfw top: sampling for %s\n", every)
				time.Sleep(every)
				after, end, err := readTimed(c, (*loader.State).Snapshot)
				if err != nil {
					return err
				}
				return printTop(c, rates(before, after, end.Sub(at)), "")
			}
			stop := make(chan os.Signal, 1)
			signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(stop)
			tick := time.NewTicker(every)
			defer tick.Stop()
			// Each table clears a terminal and is drawn in place; on a
			// pipe or in a file, tables follow one another, a blank line
			// apart, with no control characters.
			lead, next := "", "\n"
			if onTerminal(c.App.Writer) {
				lead, next = clearScreen, clearScreen
			}
			for {
				select {
				case <-stop:
					return nil
				case <-tick.C:
				}
				after, end, stopped, err := readUnless(c, stop)
				if stopped {
					return nil
				}
				if err != nil {
					return err
				}
				if stopped, err := printUnless(c, stop, rates(before, after, end.Sub(at)), lead); stopped || err != nil {
					return err
				}
				before, at, lead = after, end, next
			}
		},
	}
}

// readUnless is a snapshot's readTimed, unless a signal comes on stop
// first. A read waits for the pin directory's lock while another process
// holds it (a long set load, an apply stopped with ^Z), which nothing
// interrupts, and top takes SIGINT to end between reads: it ignored ^C
// until the lock was free. The read left waiting ends with the process.
func readUnless(c *cli.Context, stop <-chan os.Signal) (loader.Snapshot, time.Time, bool, error) {
	type read struct {
		snap loader.Snapshot
		at   time.Time
		err  error
	}
	next := make(chan read, 1)
	go func() {
		var r read
		r.snap, r.at, r.err = readTimed(c, (*loader.State).Snapshot)
		next <- r
	}()
	select {
	case <-stop:
		return loader.Snapshot{}, time.Time{}, true, nil
	case r := <-next:
		return r.snap, r.at, false, r.err
	}
}

// printUnless is printTop, unless a signal comes on stop first. A write
// to a reader that stopped reading (top | less, the pager stopped, its
// pipe full) blocks in the kernel, which nothing interrupts: SIGTERM and
// ^C were taken and ignored, and only SIGKILL ended top. The write left
// waiting ends with the process.
func printUnless(c *cli.Context, stop <-chan os.Signal, s topSample, lead string) (bool, error) {
	done := make(chan error, 1)
	go func() { done <- printTop(c, s, lead) }()
	select {
	case <-stop:
		return true, nil
	case err := <-done:
		return false, err
	}
}

// clearScreen moves a terminal's cursor home and clears it.
const clearScreen = "\033[H\033[2J"

// onTerminal is whether w is a terminal, where top redraws in place.
func onTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && progress.IsTerminal(f)
}

// roughly is secs as a duration of three significant digits (20.1ms,
// 1.02s): an interval may be as short as 10ms, which one decimal of a
// second showed as 0.0s.
func roughly(secs float64) string {
	d := time.Duration(secs * float64(time.Second))
	unit := time.Microsecond
	for unit*1000 <= d {
		unit *= 10
	}
	return d.Round(unit).String()
}

// printTop prints one sample: JSON (one line), or a table after lead
// (what clears the terminal, or separates it from the table before).
func printTop(c *cli.Context, s topSample, lead string) error {
	switch {
	case c.Bool("json") && c.Bool("once"):
		return printJSON(c, s)
	case c.Bool("json"):
		// A stream: one object per line, for line-by-line readers.
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.App.Writer, "%s\n", b)
		return err
	}
	fmt.Fprint(c.App.Writer, lead)
	fmt.Fprintf(c.App.Writer, "xdpfw top: every %s, policy %s\n\n", roughly(s.Interval), s.Policy)
	tw := newTable(c)
	show := slices.ContainsFunc(s.Rules, func(r ruleRate) bool { return r.Comment != "" })
	fmt.Fprintln(tw, "ID\tPRIO\tMATCH\tACTION\tPKT/S\tBYTES/S\tPACKETS"+commentCell(show, "COMMENT"))
	for _, r := range s.Rules {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%.0f\t%.0f\t%d%s\n", r.ID, r.Priority, r.Match, r.Action, r.PacketsPerSecond, r.BytesPerSecond, r.Packets, commentCell(show, r.Comment))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "VERDICT\t\t\t\tPKT/S\tBYTES/S\tPACKETS")
	for _, name := range loader.StatNames {
		v := s.Verdicts[name]
		fmt.Fprintf(tw, "%s\t\t\t\t%.0f\t%.0f\t%d\n", name, v.PacketsPerSecond, v.BytesPerSecond, v.Packets)
	}
	return tw.Flush()
}
