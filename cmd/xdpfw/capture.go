package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/capture"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

func captureCommand() *cli.Command {
	return &cli.Command{
		Name:  "capture",
		Usage: "copy the frames xdpfw drops (or passes) out of the datapath, with the rule that decided each",
		Description: `tcpdump runs after XDP, so it never sees what xdpfw drops. capture asks the
datapath itself to copy the frames it selects, with the rule id, action and
reason of each and the interface it arrived on, until interrupted or -c
packets are written; a hangup, or a reader of its output that goes away
(| head, tcpdump -c), ends it the same way: the capture stopped, exit 0.

Without -w, one line per packet:
  14:02:11.204511 eth0 drop rule 7 tcp 203.0.113.9:41000 > 192.0.2.10:23, length 74

-w FILE writes pcapng (one interface block per interface, each packet's
decision in its comment, e.g. "rule 7 drop iface eth0"), FILE replaced
once the capture has started (a capture refused leaves it as it was);
-w - streams it:
  xdpfw capture -w - | tcpdump -n -r -

--verdict drop (the default), pass or all selects by verdict; --rule ID
(repeatable) keeps only frames those rules decided (a rule whose action the
verdict leaves out is refused); --iface only frames arriving on that
interface, which must run xdpfw's program (status lists it, neither missing
nor replaced): any other is refused. Each record holds at most
--snaplen bytes of its frame (at most 2048); a line shows a cut frame's
headers if they were kept whole, and says it was cut. At most --max-rate
records a second are taken (0: no limit); frames over it, and frames the
reader fell behind on, are counted and reported at the end, not written.

A rule that a change of the ruleset renumbers (apply or serve's reload
keeping it with a new rule put before it at its priority) is captured on
under its new id, stderr saying so; a rule removed is said too, and once
every rule --rule names is removed (or, by rule replace, given an action
--verdict leaves out) the capture ends, failing saying so (as tcpdump
does when its interface goes away); so does a capture of --iface
once that interface is gone (deleted, or moved to another network
namespace).

While no capture runs, the datapath pays only a bit test on a word it reads
anyway. One capture runs at a time. A capture left running by a killed
process is shown by status; --stop ends it. A capture ended from outside
(--stop, or its state removed by detach --all) fails saying so.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "verdict", Value: "drop", Usage: "frames to copy: `drop`, pass or all"},
			&cli.GenericFlag{Name: "rule", Value: &decimals{max: math.MaxUint32}, Usage: "only frames rule `ID` decided (repeatable)"},
			&cli.StringFlag{Name: "iface", Usage: "only frames arriving on interface `NAME`"},
			&cli.GenericFlag{Name: "count", Aliases: []string{"c"}, Value: &decimal{max: math.MaxInt32}, Usage: "stop after `N` packets (0: until interrupted)"},
			&cli.GenericFlag{Name: "snaplen", Value: &decimal{n: loader.MaxSnaplen, min: 1, max: loader.MaxSnaplen}, Usage: "bytes of each frame to keep (`N`, 1-2048)"},
			&cli.GenericFlag{Name: "max-rate", Value: &decimal{n: 10000, max: math.MaxUint32}, Usage: "at most `PPS` records a second (0: no limit)"},
			&cli.StringFlag{Name: "write", Aliases: []string{"w"}, Usage: "write pcapng to `FILE` (- for standard output)"},
			&cli.BoolFlag{Name: "stop", Usage: "stop a capture left running by a process that is gone"},
		},
		Action: runCapture,
	}
}

func runCapture(c *cli.Context) error {
	// `capture eth0` would otherwise capture every interface.
	if err := noArgs(c, "capture"); err != nil {
		return err
	}
	dir := c.String("pin-dir")
	if c.Bool("stop") {
		// A selection or output given with --stop would be silently
		// ignored: --stop only ends the capture left running.
		for _, f := range []string{"verdict", "rule", "iface", "count", "snaplen", "max-rate", "write"} {
			if c.IsSet(f) {
				return fmt.Errorf("capture: --stop ends the capture left running and takes no --%s", f)
			}
		}
		return stopCapture(c, dir)
	}
	opts, err := captureOptions(c)
	if err != nil {
		return err
	}
	out, closeOut, err := captureOutput(c)
	if err != nil {
		return err
	}
	// A hangup (the terminal closed) and a broken pipe (| head, tcpdump
	// -c) end a capture as an interrupt does, its capture stopped: by
	// default either killed the process and left the datapath copying.
	// With SIGPIPE caught, a write to the closed pipe fails with EPIPE.
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP) // not under nohup, which ignores it
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()
	sum, err := capture.Run(ctx, dir, opts, out)
	if errors.Is(err, syscall.EPIPE) {
		err = nil // the reader has what it wanted
	}
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if sum.Started {
		fmt.Fprintf(c.App.ErrWriter, "xdpfw: %s written; %d lost (the reader fell behind), %d over --max-rate\n", count(sum.Written, "packet"), sum.Lost, sum.Limited)
	}
	return err
}

func captureOptions(c *cli.Context) (capture.Options, error) {
	// The flags' ranges fit the selection's 32-bit words (decimal).
	f := loader.CaptureFilter{Snaplen: uint32(decimalValue(c, "snaplen")), MaxRate: uint32(decimalValue(c, "max-rate"))}
	switch strings.ToLower(c.String("verdict")) { // any case, as --action
	case "drop":
		f.Drop = true
	case "pass":
		f.Pass = true
	case "all":
		f.Pass, f.Drop = true, true
	default:
		return capture.Options{}, fmt.Errorf("capture: --verdict %q: want drop, pass or all", c.String("verdict"))
	}
	if err := blankFlag(c, "name", "leave the flag out for every interface", "iface"); err != nil {
		return capture.Options{}, err
	}
	for _, id := range c.Generic("rule").(*decimals).ns {
		f.Rules = append(f.Rules, uint32(id))
	}
	return capture.Options{Filter: f, Iface: c.String("iface"), Count: int(decimalValue(c, "count")), Pcapng: c.IsSet("write"), Notices: c.App.ErrWriter}, nil
}

// captureOutput is where packets go: the terminal's lines, or pcapng to a
// file or standard output. The file is opened before the capture starts
// (a bad path is one line, and a FIFO waits for its reader while ^C still
// works), but emptied only at its first write, once the capture has
// started: a capture refused (another runs, a bad rule) leaves the file
// it names as it was, and removes it if it made it.
func captureOutput(c *cli.Context) (io.Writer, func() error, error) {
	path := c.String("write")
	if !c.IsSet("write") || path == "-" {
		return c.App.Writer, func() error { return nil }, nil
	}
	if path == "" {
		return nil, nil, errors.New("capture: -w: want a file name, or - for standard output")
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("capture: %w", err)
	}
	o := &emptiedAtFirstWrite{f: f, made: errors.Is(statErr, os.ErrNotExist)}
	return o, o.Close, nil
}

// emptiedAtFirstWrite is an open file emptied by its first Write.
type emptiedAtFirstWrite struct {
	f       *os.File
	made    bool // it did not exist: removed if never written
	written bool
}

func (o *emptiedAtFirstWrite) Write(b []byte) (int, error) {
	if !o.written {
		o.written = true
		if fi, err := o.f.Stat(); err == nil && fi.Mode().IsRegular() {
			if err := o.f.Truncate(0); err != nil {
				return 0, err
			}
		}
	}
	return o.f.Write(b)
}

// SyscallConn is the file's: a capture polls it to end once the reader
// of a FIFO has gone, as it does for its standard output.
func (o *emptiedAtFirstWrite) SyscallConn() (syscall.RawConn, error) { return o.f.SyscallConn() }

func (o *emptiedAtFirstWrite) Close() error {
	err := o.f.Close()
	if !o.written && o.made {
		os.Remove(o.f.Name())
	}
	return err
}

func stopCapture(c *cli.Context, dir string) error {
	return withState(c, func(s *loader.State) error {
		stopped, err := s.StopCapture(0)
		if err != nil {
			return err
		}
		if stopped {
			fmt.Fprintln(c.App.Writer, "capture stopped")
		} else {
			fmt.Fprintln(c.App.Writer, "no capture running")
		}
		return nil
	})
}
