package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/replay"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// againstLive is the --against value naming the live ruleset, the default.
const againstLive = "live"

// nothingLive names the old side when no state is pinned: no program
// filters anything, so every frame passes today.
const nothingLive = "none"

func failOnChangeFlag() cli.Flag {
	return &cli.BoolFlag{Name: "fail-on-change", Usage: "exit non-zero when any frame's verdict or deciding rule would change"}
}

// replayDiff is `replay --diff`: the captures under --rules NEW against
// --against OLD (a file, or the live ruleset).
func replayDiff(c *cli.Context) error {
	newPath, against := c.String("rules"), c.String("against")
	switch {
	case newPath == "":
		return errors.New("replay --diff: missing --rules NEW.yaml, the ruleset to try")
	case c.Bool("bench"):
		return errors.New("replay: --diff and --bench do not go together")
	case c.Bool("summary"):
		// It was ignored: --diff's report is the changes alone already.
		return errors.New("replay: --diff reports only the changes, by rule: drop --summary")
	case newPath == "-" && against == "-":
		return errors.New("replay --diff: --rules and --against cannot both read standard input")
	}
	if against == "" {
		against = againstLive
	}
	name, next, err := readRulesetFile(c, newPath)
	if err != nil {
		return err
	}
	rep, err := diffCaptures(c, name, next, against, c.Args().Slice())
	if err != nil {
		return err
	}
	if rep.Frames == 0 && len(rep.Errors) > 0 {
		return nothingRead(c, rep.Errors, c.NArg())
	}
	if err := printReport(c, rep, func() { printDiff(c, rep) }); err != nil {
		return err
	}
	return diffExit(c, rep, c.NArg())
}

// refuseDiffFlags refuses the flags that only mean something with --diff.
func refuseDiffFlags(c *cli.Context) error {
	for _, f := range []string{"against", "fail-on-change"} {
		if c.IsSet(f) {
			return fmt.Errorf("replay: --%s goes with --diff (xdpfw replay --diff --rules NEW.yaml --%s ...)", f, f)
		}
	}
	return nil
}

// diffCaptures runs files under next (named name) and under against: a
// ruleset file, or againstLive for the live ruleset. With no live state
// at all, nothing filters today, and the old side is every frame passing.
// Both files are read before anything is loaded, so a bad one is the
// error whatever else is wrong.
func diffCaptures(c *cli.Context, name string, next *rules.Ruleset, against string, files []string) (rep *replay.DiffReport, err error) {
	var oldName string
	var old *rules.Ruleset
	if against != againstLive {
		if oldName, old, err = readRulesetFile(c, against); err != nil {
			return nil, err
		}
	}
	opts, err := replayOptions(c)
	if err != nil {
		return nil, err
	}
	nt, err := loader.NewInstance(next, true)
	if err != nil {
		return nil, err
	}
	defer nt.Close()
	newSide := replay.Side{Name: name, Instance: nt, Ruleset: next}
	diff := func(oldName string, ot *loader.Instance, old *rules.Ruleset) (err error) {
		rep, err = replay.Diff(replay.Side{Name: oldName, Instance: ot, Ruleset: old}, newSide, files, opts)
		return err
	}
	if old == nil {
		err = withRuleset(c, "", true, diff) // the live ruleset
		if !errors.Is(err, loader.ErrNotAttached) {
			return rep, err
		}
		oldName, old = nothingLive, &rules.Ruleset{Policy: rules.Pass}
	}
	ot, err := loader.NewInstance(old, true)
	if err != nil {
		return nil, err
	}
	defer ot.Close()
	err = diff(oldName, ot, old)
	return rep, err
}

// diffExit prints the captures that could not be read and gives the exit
// status: a diff is a report, so changes fail it only with
// --fail-on-change; unreadable captures and model disagreements always do.
func diffExit(c *cli.Context, rep *replay.DiffReport, captures int) error {
	if err := replayErrors(c, rep.Errors, rep.Mismatches, rep.FullTable, captures); err != nil {
		return err
	}
	if c.Bool("fail-on-change") && rep.Changed > 0 {
		return fmt.Errorf("%d of %d frames would change verdict or deciding rule (--fail-on-change)", rep.Changed, rep.Ran)
	}
	return nil
}
