package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/internal/input"
	"github.com/xdpfw/xdpfw/pkg/serve"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run as a service: keep a config file applied, reload it on change, serve metrics",
		Description: `Applies FILE (a ruleset file, as xdpfw apply -f takes) and keeps it applied
until SIGTERM or SIGINT: what a systemd unit or a Kubernetes DaemonSet runs.
One serve runs per pin directory: a second is refused at once, naming
the first's pid (each would apply its own file over the other's).

FILE may list the interfaces to attach to:

  policy: drop
  interfaces:
    - {name: eth0, mode: native}     # mode: auto (default), native, generic
  rules:
    - {proto: tcp, dport: 22, action: pass, comment: ssh}

xdpfw is then attached to exactly those interfaces (and detached from any
other), as xdpfw apply does; a file without interfaces leaves the
attachments alone.

FILE is applied again when it changes: its directory is watched, so an
editor's rename-over and a Kubernetes ConfigMap update are seen, and so
are the directories of the links on the way to it, a file's or a
directory's (a release's "current"), and the file's own (the links
followed again when one is pointed elsewhere, and a directory renamed
away or deleted and made again watched anew). A set's file: is looked at
every 10 s and FILE applied again once a changed one has stayed as it is
for a whole look (10 to 20 s after it was last written) and no other
process holds it open for writing, so a feed rewritten in place is
applied whole: a reload before then (SIGHUP, a retry, a change of FILE)
takes that set as the file was last read (one never read whole fails
the reload, saying so). SIGHUP applies FILE again whatever else changed.
Every reload reads FILE once it has stayed as it is for 200 ms and no
other process holds it open for writing (waited for up to 2 s, then
failing until its writer closes it). A file held open but unchanged for
30 s is read all the same (an appender that keeps it open), and a writer
that closes it between chunks (echo >> FILE) is not seen: writing the
file aside and renaming it over, as editors do, is never read cut.
Serve says at its start when it cannot see other processes' open files
(without CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, or under a /proc
mounted hidepid): then no writer is seen, and a pause reads a file cut.
A file that cannot be read, parsed or applied changes nothing live: the
last good ruleset stays, the log says why (file and line) and
xdpfw_config_reload_success is 0 until a good file is applied. An
interface FILE names (under interfaces:, or a rule's iface:) that
appears, made late at boot, made again or renamed to that name, has
FILE applied again at once; one that goes (deleted, moved to another
network namespace, renamed) is logged. A file that failed is tried again
every 30 s, since what failed may be outside it; a retry, or a set
file's change, that fails the same way is not logged again. FILE is
the truth: a change made meanwhile with another command (rule add, set
add) lasts until FILE is next applied, whose log line counts what it
changed (rules added and removed, sets made, removed and changed, their
elements added and removed, the policy and conntrack changed or not).
FILE is read as apply -f reads it: at most 64 MiB, each set's file: at
most 256 MiB, and --max-size SIZE sets the first and raises the second
to SIZE when that is more (save writes a set of a few million elements
past 64 MiB). A set's file: holding 0.0.0.0/0 or ::/0 is refused
unless --allow-default-route.

It sweeps the conntrack table as xdpfw ct sweep does, a second after it
starts and then as often as the shortest timeout in effect (10 s with
the defaults, at most every 30 s; a table so large that its sweep takes
more than 1% of that is swept less often), so the table holds only
flows still live. A sweep reads the table without the state's lock and
holds it only to take out what timed out, 65,536 flows at a time (a
fraction of a second each): commands and reloads wait that long at most.
One that fails is logged (a state of an older layout once: the reloads
say why), and tried again 30 s later.

With --metrics-listen ADDR (e.g. :9100, or 127.0.0.1:0 for any port) it
serves Prometheus metrics at http://ADDR/metrics, read from the maps at
each scrape: xdpfw_rule_packets_total and xdpfw_rule_bytes_total (labels
id, action, comment), xdpfw_verdict_packets_total and _bytes_total
(labels verdict, reason), xdpfw_interface_verdict_packets_total and
_bytes_total (labels interface, ifindex, verdict, reason: a gone
interface stays recorded under its name, which one made again holds too,
until FILE listing that name is applied again, as it is when one is made),
xdpfw_ring_records_total (labels ring capture or log, result taken, lost
or limited), xdpfw_ct_entries, xdpfw_ct_capacity, xdpfw_ct_idle,
xdpfw_ct_flows_total (label event), xdpfw_ct_packets_total (label state),
xdpfw_ct_egress_packets_total, xdpfw_rules and xdpfw_sets (with their
_max), xdpfw_set_elements (labels set, family), xdpfw_interface_attached
(labels interface, ifindex, mode), xdpfw_state_pinned,
xdpfw_config_reload_success, xdpfw_config_reload_error_info (label error:
why the last reload was refused; absent once one applied),
xdpfw_config_last_reload_timestamp_seconds,
xdpfw_config_last_reload_success_timestamp_seconds and
xdpfw_config_reloads_total (label result). An ADDR that cannot be
listened on yet (taken, or not on the host until the network is up) is
logged and tried again every 5 s: the config is applied without waiting
for it. A metrics connection silent for 10 s, before a request or between
two, is closed, and so is one whose answer is not taken within a minute
of its request; a request's headers may be at most 16 KiB. At most 32
connections are served at once; one more waits until one of them closes.

It logs one line per event on standard error (start, reload applied or
refused, attach and detach, exit); repeated warnings at most every 10 s.
Each frame a rule with log: true decides is a line too (the datapath keeps
at most 1000 a second):
  level=INFO msg=frame rule=7 action=drop iface=eth0 frame="tcp 203.0.113.9:41000 > 192.0.2.10:23" length=74

Under systemd (a Type=notify unit, as dist/xdpfw.service is) it reports
itself ready once FILE's first application has been tried, applied or
refused, so the units ordered after it (network-pre.target) start with
the firewall in place.

SIGTERM and SIGINT end it at once: a reload waiting for the state's lock
(another command holding it) is given up, changing nothing.

On exit the firewall keeps enforcing: the program stays attached and the
pins stay, so restarting or upgrading the service leaves no gap. With
--detach-on-exit it detaches from every interface and removes the state
(xdpfw detach --all) instead.

  xdpfw serve --config /etc/xdpfw/xdpfw.yaml --metrics-listen 127.0.0.1:9100`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "the ruleset `FILE` to keep applied (required)"},
			&cli.StringFlag{Name: "metrics-listen", Usage: "serve Prometheus metrics on `ADDR` (host:port)"},
			&cli.BoolFlag{Name: "detach-on-exit", Usage: "detach and remove the state when stopped, instead of leaving it enforcing"},
			rulesetMaxSizeFlag("FILE"),
			allowDefaultRouteFlag("a set's file: (refused otherwise)"),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("serve: unexpected argument %q (the file is given with --config)", c.Args().First())
			}
			if c.String("config") == "" {
				return fmt.Errorf("serve: missing --config FILE (usage: xdpfw serve --config FILE [--metrics-listen ADDR] [--detach-on-exit] [--max-size SIZE] [--allow-default-route])")
			}
			if err := blankFlag(c, "address", "e.g. :9100; leave the flag out for no metrics", "metrics-listen"); err != nil {
				return err
			}
			max, err := maxSize(c, input.MaxRuleset)
			if err != nil {
				return err
			}
			return serve.Run(context.Background(), serve.Config{
				PinDir: c.String("pin-dir"), ConfigFile: c.String("config"),
				MetricsListen: c.String("metrics-listen"), DetachOnExit: c.Bool("detach-on-exit"),
				MaxSize: max, AllowDefaultRoute: c.Bool("allow-default-route"), Log: c.App.ErrWriter,
			})
		},
	}
}
