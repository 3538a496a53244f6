package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/internal/input"
	"github.com/xdpfw/xdpfw/internal/progress"
	"github.com/xdpfw/xdpfw/pkg/blocklist"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

func setCommand() *cli.Command {
	return &cli.Command{
		Name:  "set",
		Usage: "named address sets that rules reference as @NAME",
		Description: `A set holds IPv4 and/or IPv6 prefixes and addresses (a million and more:
the four most common lengths of each family, such as hosts and /24s, go to
arrays of cache-line buckets, one line a lookup; any other length to an LPM
trie, walked only when it may hold a longer match). A rule matches a set with
--src @NAME or --dst @NAME: the address must be in some prefix of the set.
Every change is atomic: packets see the set before it or after it, never
half a change, and the rules using it do not have to be recompiled.

  xdpfw set create blocklist
  xdpfw set load blocklist /var/lib/spamhaus-drop.txt   # FireHOL level1 also lists private ranges
  xdpfw rule add --src @blocklist --action drop
  xdpfw set add blocklist 198.51.100.7 2001:db8:bad::/48
  xdpfw set list --json`,
		Subcommands: []*cli.Command{
			setCreateCommand(), setAddDelCommand("add"), setAddDelCommand("del"),
			setLoadCommand(), setFlushCommand(), setListCommand(), setDestroyCommand(),
		},
	}
}

func setCreateCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "create an empty set",
		ArgsUsage: "NAME",
		Description: `Creates an empty set. --family ipv4 or ipv6 refuses elements of the other
family; inet (the default) takes both. Works before any interface is
attached, like apply.`,
		Flags: []cli.Flag{&cli.StringFlag{Name: "family", Value: "inet", Usage: "`FAMILY`: ipv4, ipv6 or inet"}},
		Action: func(c *cli.Context) error {
			name, err := oneSetName(c)
			if err != nil {
				return err
			}
			fam, err := rules.ParseSetFamily(c.String("family"))
			if err != nil {
				return fmt.Errorf("--family: %w", err)
			}
			return loader.Provision(c.String("pin-dir"), func(s *loader.State) error {
				return s.CreateSet(name, fam)
			})
		},
	}
}

func setAddDelCommand(verb string) *cli.Command {
	usage, desc := "add elements to a set", `Adds prefixes or addresses in one atomic change. An element already in the
set, or given again, is left as it is and counted as already there.
Adding a prefix never splits or merges others: sets may overlap (an
address is in the set if any element contains it).
0.0.0.0/0 and ::/0 are refused unless --allow-default-route, as in a list
set load reads: a script adding a feed's entries one by one must not take
a poisoned one that drops (or, in a pass rule, opens to) every address.`
	flags := []cli.Flag{jsonFlag(), allowDefaultRouteFlag("the elements (refused otherwise)")}
	if verb == "del" {
		usage, desc = "delete elements from a set", `Deletes prefixes or addresses in one atomic change. Each must be an
element of the set exactly as it was added; if one is not, nothing changes.`
		flags = flags[:1]
	}
	return &cli.Command{
		Name:        verb,
		Usage:       usage,
		ArgsUsage:   "NAME CIDR...",
		Description: desc,
		Flags:       flags,
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return fmt.Errorf("set %s: need a set name and at least one prefix (usage: xdpfw set %s NAME CIDR...)", verb, verb)
			}
			name := c.Args().First()
			var ps []netip.Prefix
			for _, a := range c.Args().Slice()[1:] {
				p, err := rules.ParsePrefix(a)
				if err != nil {
					return fmt.Errorf("set %s: %w", verb, err)
				}
				if verb == "add" && p.Bits() == 0 && !c.Bool("allow-default-route") {
					return fmt.Errorf("set add: %s %w", p, blocklist.ErrDefaultRoute)
				}
				if err := rules.MappedPrefix(p); err != nil && verb == "add" {
					return fmt.Errorf("set add: %w: it would match only crafted IPv6 frames, never IPv4's (add %s)", err, rules.Unmapped(p))
				}
				ps = append(ps, p)
			}
			return withState(c, func(s *loader.State) error {
				var (
					res loader.SetResult
					err error
				)
				if verb == "add" {
					res, err = s.ChangeSet(name, ps, nil)
				} else {
					res, err = s.ChangeSet(name, nil, ps)
				}
				if err != nil {
					return err
				}
				return printSetResult(c, name, res)
			})
		},
	}
}

func printSetResult(c *cli.Context, name string, res loader.SetResult) error {
	return printLoadResult(c, name, res, nil)
}

// printLoadResult is printSetResult with the lines set load skipped
// (--skip-invalid), if any, counted in the JSON: its lines on standard
// error were all a script was told of them.
func printLoadResult(c *cli.Context, name string, res loader.SetResult, skipped *blocklist.Skipped) error {
	if c.Bool("json") {
		out := map[string]any{"set": name, "added": res.Added, "deleted": res.Deleted,
			"unchanged": res.Unchanged, "elements": res.Elements}
		if skipped != nil {
			out["skipped"] = skipped.Total
		}
		return printJSON(c, out)
	}
	fmt.Fprintf(c.App.Writer, "set %s: %d added, %d deleted, %d already there; %s\n",
		name, res.Added, res.Deleted, res.Unchanged, count(res.Elements, "element"))
	return nil
}

func setLoadCommand() *cli.Command {
	return &cli.Command{
		Name:      "load",
		Usage:     "replace a set's elements with a blocklist file",
		ArgsUsage: "NAME FILE",
		Description: `Replaces the set's elements with the file's in one atomic change: only the
difference is written, so refreshing a feed is cheap. The file has one
prefix or address per line; '#' and ';' start comments (Spamhaus DROP,
FireHOL .netset and similar lists read as they are). FILE - reads standard
input. A line repeating an element is counted as already there, as set add
counts an element given twice. An IPv4 address written IPv4-mapped
(::ffff:192.0.2.1) is a bad line, as set add refuses it: it would match
only crafted IPv6 frames, never IPv4's.

If any line is bad, nothing changes and the first 10 bad lines are
reported with their numbers (reading stops at the 11th); --skip-invalid
loads the good lines and reports the bad ones (the first 1000 by number,
then how many more; --json counts them all as skipped). A progress bar
is drawn on a terminal unless --quiet.

A list with no elements at all (an empty file, only comments, or only bad
lines skipped) is refused: use set flush to empty a set. A line covering
every address (0.0.0.0/0, ::/0) is refused, even with --skip-invalid,
unless --allow-default-route. FILE must be a regular file (not a device or
a pipe); it and standard input are read whole, at most 256 MiB (--max-size
raises the limit), and parsed before the live state is locked for the
change.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "skip-invalid", Usage: "load the good lines, report the bad ones"},
			allowDefaultRouteFlag("the list (refused otherwise, even with --skip-invalid)"),
			maxSizeFlag("the list", input.MaxBlocklist),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("set load: need a set name and a file (usage: xdpfw set load NAME FILE)")
			}
			name, path := c.Args().Get(0), c.Args().Get(1)
			max, err := maxSize(c, input.MaxBlocklist)
			if err != nil {
				return err
			}
			// Read all of it before the lock: a slow pipe must not hold
			// the live state.
			in, data, err := readInput(c, path, max)
			if err != nil {
				return err
			}
			opt := blocklist.Options{Name: in, SkipInvalid: c.Bool("skip-invalid"), AllowDefaultRoute: c.Bool("allow-default-route")}
			// The bar is drawn once the list is read and its size known.
			var bar *progress.Bar
			last := 0
			res, skipped, err := loader.LoadBlocklist(c.String("pin-dir"), name, bytes.NewReader(data), opt, func(done, total int) {
				if bar == nil {
					bar = progress.New(os.Stderr, "loading "+name, int64(total), c.Bool("quiet") || c.App.ErrWriter != os.Stderr)
				}
				bar.Add(int64(done - last))
				last = done
			})
			if bar != nil {
				bar.Done()
			}
			for _, bad := range skipped.Lines {
				fmt.Fprintf(c.App.ErrWriter, "%s: skipped %v\n", in, bad)
			}
			if more := skipped.Total - len(skipped.Lines); more > 0 {
				fmt.Fprintf(c.App.ErrWriter, "%s: skipped %d more bad lines\n", in, more)
			}
			if err != nil {
				return fmt.Errorf("set load: %w", err)
			}
			return printLoadResult(c, name, res, &skipped)
		},
	}
}

func setFlushCommand() *cli.Command {
	return &cli.Command{
		Name:      "flush",
		Usage:     "remove every element of a set",
		ArgsUsage: "NAME",
		Flags:     []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			name, err := oneSetName(c)
			if err != nil {
				return err
			}
			return withState(c, func(s *loader.State) error {
				res, err := s.LoadSet(name, nil, nil)
				if err != nil {
					return err
				}
				return printSetResult(c, name, res)
			})
		},
	}
}

func setDestroyCommand() *cli.Command {
	return &cli.Command{
		Name:        "destroy",
		Usage:       "remove a set no rule uses",
		ArgsUsage:   "NAME",
		Description: `Removes the set. A set that a live rule references cannot be destroyed.`,
		Action: func(c *cli.Context) error {
			name, err := oneSetName(c)
			if err != nil {
				return err
			}
			return withState(c, func(s *loader.State) error { return s.DestroySet(name) })
		},
	}
}

func setListCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "list sets, or one set's elements",
		ArgsUsage: "[NAME]",
		Description: `Without NAME: every set with its family, element count and the rules using
it. With NAME: the set's elements, one per line, sorted.`,
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return fmt.Errorf("set list: at most one set name")
			}
			if c.NArg() == 1 {
				return listElements(c, c.Args().First())
			}
			infos, err := readState(c, (*loader.State).Sets)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c, infos)
			}
			tw := newTable(c)
			fmt.Fprintln(tw, "NAME\tFAMILY\tELEMENTS\tUSED BY RULES")
			for _, i := range infos {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", i.Name, i.Family, i.Elements, ruleIDList(i.ReferencedBy))
			}
			return tw.Flush()
		},
	}
}

// ruleIDList writes rule ids as rule list shows them, comma-separated,
// "-" for none (a Go slice's "[1 2]" and "[]" read as code, not output).
func ruleIDList(ids []uint32) string {
	if len(ids) == 0 {
		return "-"
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(out, ",")
}

func listElements(c *cli.Context, name string) error {
	ps, err := readState(c, func(s *loader.State) ([]netip.Prefix, error) { return s.SetElements(name) })
	if err != nil {
		return err
	}
	if c.Bool("json") {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.String()
		}
		return printJSON(c, map[string]any{"set": name, "elements": out})
	}
	// Buffered: a write per element was a million write calls for a
	// million-element set, 8 s into a pipe where the reading took 1.5.
	w := bufio.NewWriterSize(c.App.Writer, 64<<10)
	var line []byte
	for _, p := range ps {
		line = append(p.AppendTo(line[:0]), '\n')
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return w.Flush()
}

func oneSetName(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", fmt.Errorf("%s: need exactly one set name (usage: xdpfw %s NAME)", commandPath(c), commandPath(c))
	}
	name := c.Args().First()
	return name, rules.ValidSetName(name)
}
