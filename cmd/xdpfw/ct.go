package main

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

func ctCommand() *cli.Command {
	return &cli.Command{
		Name:  "ct",
		Usage: "the connection-tracking table: list flows, counters, sweep, flush",
		Description: `xdpfw learns flows from the packets this host sends (and forwards) on the
interfaces it is attached to: attach puts a TC egress program beside the XDP
one (tcx from Linux 6.6, a clsact filter before). A packet coming in is then
new, established (a learned flow's, or a later fragment of a datagram whose
first fragment was), related (an ICMP error quoting one) or invalid (a TCP
segment of no flow other than a SYN; a RST whose sequence number is not from
what the host last acknowledged to 1 MiB past it: a spoofer's, which leaves
the flow open), which rules match with --ct-state. Only packets going out
create flows: unsolicited traffic never does by itself, and what the host
answers to it is kept briefly (a SYN-ACK 60 s, a UDP answer 30 s), so a flood
at an open service churns the table rather than filling it for days; so is a
TCP connection picked up from an ACK the host sends mid-stream (as a SYN
sent, until a packet comes in on it). The table holds 262144 flows, or the
ruleset's conntrack: max-flows (1024 to 16777216, about 120 bytes a flow);
when full, the least recently seen makes room (an eviction). While no rule
has --ct-state and the policy is pass, nothing reads the table: without
max-flows it is idle, 1000 flows (the most recent), and made whole, those
flows kept, by the change that starts reading it, which also puts in every
established TCP connection of this host's that the table has no record of, or
a record of its handshake only or of nothing answered (from the kernel's
socket table, so a connection that only receives keeps receiving), as attach
does for a table that is read; other older flows are learnt again from their
next packet out. Flows time out as the ruleset's conntrack: section says
(xdpfw ct stats shows the capacity and the timeouts in effect). A flow that
has timed out is removed by its next packet, or by a sweep: xdpfw serve
sweeps the table as often as its shortest timeout (at most every 30 s; a
table too large to sweep in 1% of that, less often), and xdpfw ct sweep
does it once. Unswept, a busy table fills with flows long timed out, and
when full it makes room by the least recently seen, however long its
timeout: an established connection idle longer than the table takes to fill
(its capacity over the new flows a second: 44 minutes at 100 a second) is
forgotten, and its peer's next packet is new or invalid.

  xdpfw ct list --proto tcp --port 443
  xdpfw ct stats --json
  xdpfw ct sweep
  xdpfw ct flush`,
		Subcommands: []*cli.Command{ctListCommand(), ctStatsCommand(), ctSweepCommand(), ctFlushCommand()},
	}
}

// noArgs refuses arguments to a command that takes none.
func noArgs(c *cli.Context, name string) error {
	if c.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q (see: xdpfw %s --help)", name, c.Args().First(), name)
	}
	return nil
}

func ctListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the tracked flows",
		Description: `One line per flow, from this host's side, most recently seen first: the
protocol, the local and remote address and port (an ICMP echo flow shows
its identifier as the local port), how it is kept (tcp, udp, echo, or
generic: addresses only), its state (for TCP syn-sent, syn-recv, established,
closing or close; for the others replied once a packet came back, else
unreplied), how long since a packet of it was seen either way, and how
long it has left before it times out unless another is (0s: timed out,
removed by its next packet, by a sweep (serve's, or ct sweep) or by the
table filling).

Filters combine (all must hold): --proto tcp, udp, icmp, icmpv6 or a
number; --addr an address or prefix, local or remote; --port a local or
remote port; --state a comma list of flow states.

--json prints a list of objects with the same fields, durations in
nanoseconds (age_ns, left_ns).`,
		Flags: []cli.Flag{jsonFlag(),
			&cli.StringFlag{Name: "proto", Usage: "only flows of `PROTO`: tcp, udp, icmp, icmpv6 or 0-255"},
			&cli.StringFlag{Name: "addr", Usage: "only flows whose local or remote address is in `CIDR` (or is that address)"},
			&cli.GenericFlag{Name: "port", Value: &decimal{min: 1, max: 65535}, Usage: "only flows whose local or remote port is `N`"},
			&cli.StringFlag{Name: "state", Usage: "only flows in `STATES`, a comma list of " + strings.Join(loader.CTFlowStates, ", ")},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c, "ct list"); err != nil {
				return err
			}
			if err := blankFlag(c, "value", "leave the flag out for every flow", "proto", "addr", "state"); err != nil {
				return err
			}
			port := c.Generic("port").(*decimal).n
			f, err := loader.ParseCTFilter(c.String("proto"), c.String("addr"), uint(port), c.String("state"))
			if err != nil {
				return fmt.Errorf("ct list: %w", err)
			}
			flows, err := readState(c, func(s *loader.State) ([]loader.Flow, error) { return s.ConntrackFlows(f) })
			if err != nil {
				return err
			}
			if flows == nil {
				flows = []loader.Flow{}
			}
			return printReport(c, flows, func() {
				tw := newTable(c)
				fmt.Fprintln(tw, "PROTO\tLOCAL\tREMOTE\tKIND\tSTATE\tAGE\tLEFT")
				for _, fl := range flows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", fl.Proto, endpoint(fl.Local, fl.LocalPort, fl.Kind, true),
						endpoint(fl.Remote, fl.RemotePort, fl.Kind, false), fl.Kind, fl.State, roundDuration(fl.Age), roundDuration(fl.Left))
				}
				tw.Flush()
			})
		},
	}
}

// endpoint is addr:port for flows with ports, addr alone for the others;
// an echo flow's identifier is shown as its local port, its remote has
// none.
func endpoint(a netip.Addr, port uint16, kind string, local bool) string {
	if kind == "tcp" || kind == "udp" || kind == "echo" && local {
		return netip.AddrPortFrom(a, port).String()
	}
	return a.String()
}

func roundDuration(d time.Duration) time.Duration {
	if d >= time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

func ctStatsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "show the table's size and counters, and the timeouts in effect",
		Description: `entries: flows in the table now, of capacity. inserts: flows learned since
the state was made; expired: removed timed out, by a packet or a sweep;
flushed: removed by xdpfw ct flush; evictions: dropped by the full table
to make room for a new flow (inserts, and the flows xdpfw put in itself,
less expired, flushed and entries).
egress packets: what the egress program saw. Then the packets coming in
placed in each state (new, established, related, invalid, untracked: not
IP, or ICMPv6 neighbour discovery or multicast listener (MLD) messages),
counted only while some rule has a --ct-state condition, and each timeout
in effect, in seconds (the ruleset's conntrack: section, else the
default).

With --interval D (1s, 500ms), it reads the counters twice, D apart, and
adds what happened per second in between: inserts, evictions, egress
packets and packets per state (--json: "per_second").`,
		Flags: []cli.Flag{jsonFlag(), &cli.DurationFlag{Name: "interval", Usage: "also give rates per second, measured over `D` (at most 1m)"}},
		Action: func(c *cli.Context) error {
			if err := noArgs(c, "ct stats"); err != nil {
				return err
			}
			d := c.Duration("interval")
			if d < 0 || d > time.Minute {
				return fmt.Errorf("ct stats: --interval %s: want a duration from 0 to 1m", d)
			}
			st, at, err := readTimed(c, (*loader.State).ConntrackStats)
			if err != nil {
				return err
			}
			var rates *loader.CTRates
			if d > 0 {
				// The state is open for each read only: see
				// loader.CTRatesBetween.
				time.Sleep(d)
				before, start := st, at
				if st, at, err = readTimed(c, (*loader.State).ConntrackStats); err != nil {
					return err
				}
				r := loader.CTRatesBetween(before, st, at.Sub(start).Seconds())
				rates = &r
			}
			report := struct {
				loader.CTStats
				PerSecond *loader.CTRates `json:"per_second,omitempty"`
			}{st, rates}
			return printReport(c, report, func() {
				tw := newTable(c)
				fmt.Fprintf(tw, "entries\t%d of %d\n", st.Entries, st.Capacity)
				if st.Idle {
					fmt.Fprintf(tw, "table\tidle: no rule and no drop policy reads it\n")
				}
				for _, row := range []struct {
					name string
					n    uint64
				}{{"inserts", st.Inserts}, {"expired", st.Expired}, {"flushed", st.Flushed}, {"evictions", st.Evictions}, {"egress packets", st.Egress}} {
					fmt.Fprintf(tw, "%s\t%d\n", row.name, row.n)
				}
				fmt.Fprintln(tw, "\nSTATE\tPACKETS")
				for _, name := range loader.CTStateNames {
					fmt.Fprintf(tw, "%s\t%d\n", name, st.States[name])
				}
				if rates != nil {
					fmt.Fprintf(tw, "\nPER SECOND (over %.1fs)\t\n", rates.Interval)
					fmt.Fprintf(tw, "inserts\t%.1f\nevictions\t%.1f\negress packets\t%.1f\n", rates.Inserts, rates.Evictions, rates.Egress)
					for _, name := range loader.CTStateNames {
						fmt.Fprintf(tw, "%s packets\t%.1f\n", name, rates.States[name])
					}
				}
				fmt.Fprintln(tw, "\nTIMEOUT\tSECONDS")
				for _, name := range rules.CTTimeoutNames {
					fmt.Fprintf(tw, "%s\t%d\n", name, st.Timeouts[name])
				}
				tw.Flush()
			})
		},
	}
}

func ctSweepCommand() *cli.Command {
	return &cli.Command{
		Name:  "sweep",
		Usage: "remove the flows that have timed out",
		Description: `Reads the flow table and removes every flow whose last packet is older
than its timeout, as its own next packet would; each is looked up again
just before, so one a packet refreshed meanwhile stays. xdpfw serve does
this as often as the shortest timeout in effect (at most every 30 s; a
table too large to sweep in 1% of that, less often); without serve, run
it from a timer (a systemd timer or cron, every minute or so) on a host
whose table fills. Other commands wait only while it takes flows out, not
while it reads the table. Prints how many flows were removed, of how many
read (--json: {"entries": N, "expired": N}); ct stats counts them as
expired.`,
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			if err := noArgs(c, "ct sweep"); err != nil {
				return err
			}
			res, err := loader.SweepConntrackIn(c.Context, c.String("pin-dir"))
			if err != nil {
				return err
			}
			return printReport(c, res, func() {
				fmt.Fprintf(c.App.Writer, "removed %s timed out, of %d\n", count(res.Expired, "flow"), res.Entries)
			})
		},
	}
}

func ctFlushCommand() *cli.Command {
	return &cli.Command{
		Name:  "flush",
		Usage: "remove every tracked flow",
		Description: `Empties the flow table and the fragment table. Replies to connections this
host had open are not established (a TCP segment is invalid, a UDP
datagram new) until their flow is learned again from the next packet it
sends: under a policy that passes only established traffic, an idle
connection whose peer speaks first stays cut. Prints how many flows
were removed (--json: {"flushed": N}); ct stats counts them as flushed.`,
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			if err := noArgs(c, "ct flush"); err != nil {
				return err
			}
			return withState(c, func(s *loader.State) error {
				n, err := s.FlushConntrack()
				if err != nil {
					return err
				}
				return printReport(c, map[string]int{"flushed": n}, func() {
					fmt.Fprintf(c.App.Writer, "flushed %s\n", count(n, "flow"))
				})
			})
		},
	}
}
