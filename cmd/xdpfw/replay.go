package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/replay"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

func replayCommand() *cli.Command {
	return &cli.Command{
		Name:      "replay",
		Usage:     "run captured frames through the real program: each verdict, or what a new ruleset would change (--diff)",
		ArgsUsage: "CAPTURE|DIR...",
		Description: `Runs every frame of the captures (pcap or pcapng) through a
private copy of the xdpfw program with BPF_PROG_TEST_RUN: the same code and
the same classifier the interfaces run, without touching live counters or
needing an attached interface when --rules is given.

Without --rules the live ruleset is used: the live state in the pin
directory, which an apply, a set create or an attach makes (no interface
need be attached). With --rules FILE the YAML ruleset file is used
instead:

  policy: drop
  rules:
    - {proto: tcp, dport: 22, src: 192.0.2.0/24, action: pass}
    - {proto: udp, dport: 53, action: pass}

A directory stands for the captures under it (.pcap, .pcapng and .cap
files, in lexical order, subdirectories included; a symbolic link to a
file is followed, one to a directory is not). The files tcpdump -C writes
(x.pcap, x.pcap1, x.pcap2, ..., or with -W x.pcap0, x.pcap1, ..., which
wraps round to x.pcap0) go in the order it wrote them: by the time of
each one's first frame, then by number. Paths that hold no capture file
at all (an empty directory, one of other files) fail the replay in every
mode; such a directory beside captures is named, the rest replays, and the
exit status is non-zero, as for a capture that cannot be read. A capture
file of no frames replays, as no frames. A capture of - is standard
input (tcpdump -w - | xdpfw replay -).

Ethernet, Linux cooked (tcpdump -i any), raw IP and BSD loopback captures
replay: other link types get the Ethernet header the program would see.
Frames that cannot be replayed are listed as skipped with the reason
(offload super-frames, runts, an interface of an unsupported link type);
frames the snap length cut are
listed as truncated and not run. Neither counts in any verdict. A capture
that cannot be read is named on standard error, the others still run, and
the exit status is non-zero.

Connection tracking replays as the host lived it: frames going out run
through the egress program, which learns their flows (listed as out,
learned, with no verdict), the rest through XDP, against one table, on
the capture's clock (time since its first frame), so timeouts replay as
they happened. A frame goes out when its source is in a --local prefix,
or, without --local, when the capture says so (Linux cooked captures'
outgoing packet type, pcapng's outbound direction flag). The CT column
is the state XDP found, where it looked one up (rules with ct-state, DHCP
replies meeting a drop policy). The table is printed as the frames run,
aligned a block of 4096 rows at a time (a later block widens a column
only for a wider cell), and --json's frames one by one, so memory does
not grow with the capture; a table longer than a block has the CT column
whenever the ruleset could look a flow up. Replaying the live ruleset,
which holds the pin directory's lock, the output goes out once it ends
(held past 4 MiB in a temporary file): a pager read slowly holds back
no change.

  xdpfw replay --verify --rules host.yaml --local 192.0.2.10/32,2001:db8::10/128 host.pcap

--verify also evaluates each frame with xdpfw's reference model and exits
non-zero if any verdict differs (a bug: please report it with the frame;
but past the ruleset's conntrack max-flows the kernel evicts flows in
another order than the model, and the error says when that explains it).
Frames arrive on the loopback interface unless --iface names another, which
only matters to rules with an iface condition.

--diff shows what replacing a ruleset would do, before it is done: every
frame runs under the --rules ruleset (NEW) and under --against (OLD: a
ruleset file, or live, the default: the live ruleset, or, with nothing
applied, every frame passing), each on its own private instance. Only
frames whose verdict or deciding rule differ are reported, grouped by the
rule that decides them under NEW (or its policy), with the rule that
decided them under OLD, the change (pass->drop, drop->pass, or the same
verdict from another rule), the number of frames and up to three sample
flows, by file and frame number. Rules are known by their conditions and
action: the same rule at another id or priority in NEW is no change.
Skipped and truncated frames run under neither and count in no change.
The exit status is 0 whether or not anything changes (--fail-on-change
makes a change fail it); unreadable captures fail it, as always. One of
--rules and --against may be - (standard input); a ruleset file named live
is --against ./live. --json gives the same
report as one object: totals, "rules" with their "from" changes and
"samples" (ports as numbers, null when a frame has none).

  xdpfw replay --diff --rules new.yaml /var/tmp/edge.pcap
  xdpfw replay --diff --rules new.yaml --against old.yaml *.pcap --json

--bench measures instead what each packet of the captures costs the
program with that ruleset, beside an empty XDP program measured in the same
run (the floor: the test-run machinery itself). Each frame runs --repeat
times per BPF_PROG_TEST_RUN call, for --rounds rounds after a warm-up; the
figures are the kernel's own timing, median and range of the rounds. The
captures are read again for each program's pass over them, so memory does
not grow with them (a capture changing meanwhile fails the measurement); one
from a pipe (/dev/stdin, <(zcat x.pcap.gz)) is held, read only once. Both
programs are attached to a veth in a throwaway network namespace while they
run (without that, the kernel re-targets its XDP dispatcher around every
repeated run, about 17 ms each). The machine's other load shows in the
figures: compare the ratio, and several runs.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "rules", Usage: "use the ruleset in YAML `FILE` (- for standard input) instead of the live one"},
			rulesetMaxSizeFlag("each ruleset file (--rules, --against)"),
			allowDefaultRouteFlag("a set's file: (refused otherwise)"),
			&cli.BoolFlag{Name: "verify", Usage: "compare every verdict with the reference model"},
			&cli.BoolFlag{Name: "summary", Usage: "print only the per-rule and per-verdict summary, and the frames not run (skipped, truncated)"},
			&cli.StringFlag{Name: "iface", Usage: "frames arrive on interface `NAME` (for iface rules; default lo)"},
			&cli.StringSliceFlag{Name: "local", Usage: "this host's addresses, `CIDR` (repeatable or comma-separated): frames from them go out (default: the capture's direction)"},
			&cli.BoolFlag{Name: "bench", Usage: "report the cost per packet beside an empty program instead of verdicts"},
			&cli.GenericFlag{Name: "repeat", Value: &decimal{n: 64, min: 1, max: math.MaxInt32}, Usage: "with --bench: `N` runs of each frame per call"},
			&cli.GenericFlag{Name: "rounds", Value: &decimal{n: 5, min: 1, max: math.MaxInt32}, Usage: "with --bench: `N` measured passes over the frames"},
			&cli.BoolFlag{Name: "diff", Usage: "show what replacing a ruleset with --rules would change, frame by frame"},
			&cli.StringFlag{Name: "against", Usage: "with --diff: the ruleset now, YAML `FILE` (- for standard input) or live (the default)"},
			failOnChangeFlag(),
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, "pcap file"); err != nil {
				return err
			}
			if err := blankFlag(c, "file name", "leave the flag out for the live ruleset", "rules", "against"); err != nil {
				return err
			}
			if err := refuseBenchFlags(c); err != nil {
				return err
			}
			if c.Bool("diff") {
				return replayDiff(c)
			}
			if err := refuseDiffFlags(c); err != nil {
				return err
			}
			if c.Bool("bench") {
				return replayBench(c)
			}
			rep, rest, err := runReplay(c)
			if err != nil {
				return err
			}
			if rep.Total == 0 && len(rep.Errors) > 0 {
				return nothingRead(c, rep.Errors, c.NArg())
			}
			if err := rest(rep); err != nil {
				return err
			}
			return replayErrors(c, rep.Errors, rep.Mismatches, rep.FullTable, c.NArg())
		},
	}
}

// nothingRead is the failure when no capture gave a single frame: there
// is no report to print, only what went wrong.
func nothingRead(c *cli.Context, bad []string, captures int) error {
	if len(bad) == 1 {
		return errors.New(bad[0])
	}
	for _, e := range bad {
		fmt.Fprintf(c.App.ErrWriter, "xdpfw: %s\n", e)
	}
	return fmt.Errorf("%s: none of the %d captures could be read (above)", commandPath(c), captures)
}

// replayErrors prints one line per capture that could not be read to its
// end (the others ran) and makes the exit status say something went wrong.
func replayErrors(c *cli.Context, bad []string, mismatches, fullTable, captures int) error {
	for _, e := range bad {
		fmt.Fprintf(c.App.ErrWriter, "xdpfw: %s\n", e)
	}
	// The model evicts exactly the flow seen least recently, the kernel's
	// LRU map by an approximation: past max-flows they part, and no bug
	// should be reported for that.
	const full = "past its conntrack max-flows the kernel evicts flows in another order than the model (no bug: a larger max-flows verifies the capture)"
	switch {
	case mismatches > 0 && fullTable == mismatches:
		return fmt.Errorf("%s: %s where the datapath and the reference model disagree, all once the connection table had filled: %s", commandPath(c), count(mismatches, "frame"), full)
	case mismatches > 0 && fullTable > 0:
		return fmt.Errorf("%s: %s where the datapath and the reference model disagree, %d of them once the connection table had filled: %s", commandPath(c), count(mismatches, "frame"), fullTable, full)
	case mismatches > 0:
		return fmt.Errorf("%s: %s where the datapath and the reference model disagree", commandPath(c), count(mismatches, "frame"))
	case len(bad) > captures: // directories given, more than one bad in them
		return fmt.Errorf("%s: %d captures could not be read to their end (above); the rest replayed", commandPath(c), len(bad))
	case len(bad) == 1 && captures == 1: // no rest but its first frames
		return fmt.Errorf("%s: the capture could not be read to its end (above); its frames before that replayed", commandPath(c))
	case len(bad) > 0:
		return fmt.Errorf("%s: %d of %d captures could not be read to their end (above); the rest replayed", commandPath(c), len(bad), captures)
	}
	return nil
}

// runReplay replays the captures, printing each frame as it is decided,
// and gives what prints the rest of the output from the report. The
// live ruleset's replay runs under the pin directory's lock (its
// instance reads the live maps): what it prints meanwhile is held until
// the lock is let go, so output not taken (a pager, a stopped pipe)
// holds back no change.
func runReplay(c *cli.Context) (rep *replay.Report, rest func(*replay.Report) error, err error) {
	var out io.Writer = c.App.Writer
	var held *heldOutput
	if c.String("rules") == "" {
		held = &heldOutput{out: c.App.Writer}
		out = held
	}
	err = withInstance(c, true, func(t *loader.Instance, rs *rules.Ruleset) (err error) {
		opts, err := replayOptions(c)
		if err != nil {
			return err
		}
		opts.Each, rest = replayOutput(c, out, rs)
		rep, err = replay.Run(t, rs, c.Args().Slice(), opts)
		return err
	})
	if held != nil {
		// The frames printed before an error too, as they were.
		if herr := held.release(); err == nil {
			err = herr
		}
	}
	return rep, rest, err
}

// replayOutput is how a replay under rs prints: each frame as it is
// decided to out (each; under --summary only those it lists), then the
// rest from the finished report.
func replayOutput(c *cli.Context, out io.Writer, rs *rules.Ruleset) (each func(replay.FrameResult) error, rest func(*replay.Report) error) {
	switch {
	case c.Bool("summary") && c.Bool("json"):
		j := newJSONFrames(out)
		return func(f replay.FrameResult) error {
			if notRun(f) || f.Mismatch != "" {
				return j.add(f)
			}
			return nil
		}, j.finish
	case c.Bool("summary"):
		table := newNotRunTable(out)
		return func(f replay.FrameResult) error {
				if notRun(f) {
					return table.add(f)
				}
				return nil
			}, func(rep *replay.Report) error {
				printReplay(c, rep, table)
				return nil
			}
	case c.Bool("json"):
		j := newJSONFrames(out)
		return j.add, j.finish
	}
	table := newFrameTable(out, replay.MayLookUpCT(rs))
	return table.add, func(rep *replay.Report) error {
		printReplay(c, rep, table)
		return nil
	}
}

// withInstance runs fn with a private instance of the program enforcing the
// ruleset of --rules FILE, or else the live one (it then shares the live
// classifier maps, but never the live counters).
func withInstance(c *cli.Context, trace bool, fn func(*loader.Instance, *rules.Ruleset) error) error {
	return withRuleset(c, c.String("rules"), trace, func(_ string, t *loader.Instance, rs *rules.Ruleset) error {
		return fn(t, rs)
	})
}

// withRuleset runs fn with a private instance enforcing the ruleset file
// path, or with no path the live ruleset, and that ruleset's name: what
// errors call the file, or againstLive.
func withRuleset(c *cli.Context, path string, trace bool, fn func(string, *loader.Instance, *rules.Ruleset) error) error {
	if path != "" {
		name, rs, err := readRulesetFile(c, path)
		if err != nil {
			return err
		}
		t, err := loader.NewInstance(rs, trace)
		if err != nil {
			return err
		}
		defer t.Close()
		return fn(name, t, rs)
	}
	return withState(c, func(s *loader.State) error {
		rs, err := s.RulesetWithSets()
		if err != nil {
			return err
		}
		t, err := s.NewInstance(trace)
		if err != nil {
			return err
		}
		defer t.Close()
		return fn(againstLive, t, rs)
	})
}

func replayOptions(c *cli.Context) (replay.Options, error) {
	local, err := localPrefixes(c.StringSlice("local"))
	return replay.Options{Verify: c.Bool("verify"), Iface: c.String("iface"), Local: local, Summary: c.Bool("summary")}, err
}

// localPrefixes reads --local: prefixes, or addresses standing for their
// host prefix, each value a comma list. Each is read as a rule's address
// is (rules.ParsePrefix): a host address with a length (192.0.2.10/24)
// is refused, not masked to a prefix whose every frame goes out, and an
// empty item, a zone or an IPv4-mapped address, which matched nothing of
// what was meant, is refused too.
func localPrefixes(vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			p, err := rules.ParsePrefix(s)
			if err == nil {
				err = rules.MappedPrefix(p)
			}
			if err != nil {
				return nil, fmt.Errorf("--local %q: %v", v, err)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// ctCell is the CT column's cell, when the table has the column: a dash
// where nothing was looked up.
func ctCell(show bool, st string) string {
	switch {
	case !show:
		return ""
	case st == "":
		return "\t-"
	}
	return "\t" + st
}

func printReplay(c *cli.Context, rep *replay.Report, table *frameTable) {
	// The summary counts only frames that ran: its table names the
	// others, when there are any.
	if !table.notRun || rep.Skipped+rep.Truncated > 0 {
		table.finish()
	}
	tw := newTable(c)
	show := slices.ContainsFunc(rep.Rules, func(r replay.RuleSummary) bool { return r.Comment != "" })
	fmt.Fprintln(tw, "RULE\tMATCH\tACTION\tFRAMES\tBYTES"+commentCell(show, "COMMENT"))
	for _, r := range rep.Rules {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d%s\n", r.ID, r.Match, r.Action, r.Frames, r.Bytes, commentCell(show, r.Comment))
	}
	tw.Flush()
	v := rep.Verdicts
	fmt.Fprintf(c.App.Writer, "\nframes: %d  pass: %d  drop: %d  default: %d  malformed: %d  neighbor: %d  skipped: %d  truncated: %d\n",
		rep.Total, v["pass"], v["drop"], v["default"], v["malformed"], v["neighbor"], rep.Skipped, rep.Truncated)
	if rep.Learned > 0 {
		fmt.Fprintf(c.App.Writer, "out (learned by the egress program, no verdict): %d\n", rep.Learned)
	}
	ran := rep.Total - rep.Skipped - rep.Truncated - rep.Learned
	if rep.Verified {
		fmt.Fprintf(c.App.Writer, "reference model: %d of %d frames agree\n", ran-rep.Mismatches, ran)
	}
}
