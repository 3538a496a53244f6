package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/replay"
)

// printDiff prints what a ruleset change would do: which rulesets, how
// many frames ran and what became of the others, then one row per change
// (the new ruleset's decider, the old one's, the transition, its frames)
// with a sample flow on each of its lines, and the totals.
func printDiff(c *cli.Context, rep *replay.DiffReport) {
	w := c.App.Writer
	fmt.Fprintf(w, "%s (%s) against %s\n", rep.New.Name, rulesetText(rep.New), oldText(rep.Old))
	fmt.Fprintf(w, "frames: %d, run under both: %d, ", rep.Frames, rep.Ran)
	if rep.Learned > 0 {
		// Every frame is counted on the line, as in --json and replay's.
		fmt.Fprintf(w, "out (learned by the egress program, no verdict): %d, ", rep.Learned)
	}
	fmt.Fprintf(w, "skipped: %d, truncated: %d", rep.Skipped, rep.Truncated)
	if rep.Skipped+rep.Truncated > 0 {
		fmt.Fprint(w, " (not run, counted in no change: xdpfw replay --summary lists them)")
	}
	fmt.Fprintln(w)
	if rep.Changed == 0 {
		fmt.Fprintf(w, "\nno change: every frame run gets the same verdict from the same rule\n")
	} else {
		fmt.Fprintln(w)
		printChanges(c, rep)
		fmt.Fprintf(w, "\nverdict changed: %d of %d frames (pass->drop: %d, drop->pass: %d); same verdict from another rule: %d; unchanged: %d\n",
			rep.PassToDrop+rep.DropToPass, rep.Ran, rep.PassToDrop, rep.DropToPass, rep.Redecided, rep.Unchanged)
	}
	if rep.Verified {
		fmt.Fprintf(w, "reference model: %d of %d frames agree under both rulesets\n", rep.Ran-rep.Mismatches, rep.Ran)
	}
}

// printChanges is the table of changes: a row per pair of deciders, and
// a line per sample flow.
func printChanges(c *cli.Context, rep *replay.DiffReport) {
	tw := newTable(c)
	fmt.Fprintln(tw, "NEW DECIDER\tOLD DECIDER\tCHANGE\tFRAMES\tFILE\tFRAME\tSAMPLE FLOW")
	for _, rc := range rep.Rules {
		now := rc.Rule.String()
		for _, ch := range rc.From {
			for i, s := range ch.Samples {
				if i == 0 {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t", now, ch.Rule, changeText(ch.Change, rc.Rule.Action), ch.Frames)
				} else {
					fmt.Fprint(tw, "\t\t\t\t")
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\n", s.File, s.Index, s.Flow)
			}
			now = "" // the rule's other changes follow under it
		}
	}
	tw.Flush()
}

func rulesetText(r replay.RulesetInfo) string {
	return fmt.Sprintf("%s, policy %s", count(r.Rules, "rule"), r.Policy)
}

func oldText(r replay.RulesetInfo) string {
	switch r.Name {
	case againstLive:
		return "the live ruleset (" + rulesetText(r) + ")"
	case nothingLive:
		return "nothing live (no ruleset applied: every frame passes)"
	}
	return r.Name + " (" + rulesetText(r) + ")"
}

// changeText is how the table shows a transition.
func changeText(change, action string) string {
	switch change {
	case replay.PassToDrop:
		return "pass->drop"
	case replay.DropToPass:
		return "drop->pass"
	}
	return action + ", another rule"
}
