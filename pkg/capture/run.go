package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/model"
)

// Options are what `xdpfw capture` asks for.
type Options struct {
	Filter loader.CaptureFilter
	Iface  string // only frames arriving on it (sets Filter.Ifindex)
	Count  int    // stop after this many packets; 0: until ctx ends
	Pcapng bool   // write pcapng to Out; else one line per packet
	// Told of the selected rules a change of the ruleset renumbers or
	// removes (nil: not told).
	Notices io.Writer
}

// Summary is how a capture went.
type Summary struct {
	Started bool `json:"-"` // the capture ran: the counts mean something
	Written int  `json:"written"`
	loader.RingCounts
}

// poll is how long a read waits before looking at ctx again; every
// checkEvery polls' time the capture checks it still runs, and what
// became of its rules.
const (
	poll       = 200 * time.Millisecond
	checkEvery = 5
)

// Run captures from the state in dir what opts select until ctx ends or
// opts.Count packets are written, writing them to out. The state's lock
// is held only to start and to stop the capture, so other commands run
// meanwhile. The capture is stopped however Run ends.
func Run(ctx context.Context, dir string, opts Options, out io.Writer) (sum Summary, err error) {
	if opts.Iface != "" {
		ifc, err := net.InterfaceByName(opts.Iface)
		if err != nil {
			return sum, fmt.Errorf("capture: unknown interface %q", opts.Iface)
		}
		opts.Filter.Ifindex = uint32(ifc.Index)
	}
	s, err := open(ctx, dir)
	if errors.Is(err, context.Canceled) {
		return sum, nil // interrupted before it started: nothing to stop
	}
	if err != nil {
		return sum, err
	}
	c, err := s.StartCapture(opts.Filter)
	s.Close()
	if err != nil {
		return sum, err
	}
	sum.Started = true
	defer func() {
		if stopErr := c.Stop(); err == nil {
			err = stopErr
		}
	}()
	// However it ends (a write failed, ended from outside), the counts
	// are the ring's and the output is whole.
	defer func() {
		counts, cerr := c.Counts()
		if sum.RingCounts = counts; err == nil {
			err = cerr
		}
	}()
	// An interrupt ends a write blocked on a reader that stopped
	// reading: that write's error is the interrupt's, an end like any.
	interrupted := func(err error) bool { return errors.Is(err, ctx.Err()) && ctx.Err() != nil }
	write, finish, err := newSink(&interruptible{ctx: ctx, out: out}, opts)
	if interrupted(err) {
		return sum, nil
	}
	if err != nil {
		return sum, err
	}
	defer func() {
		if ferr := finish(); err == nil && !interrupted(ferr) {
			err = ferr
		}
	}()
	clock := wallClock()
	names := IfaceNames{}
	checked := time.Now()
	for opts.Count == 0 || sum.Written < opts.Count {
		if ctx.Err() != nil {
			break
		}
		rec, ok, err := c.Next(poll)
		if err != nil {
			return sum, err
		}
		if ok {
			if err := write(rec, clock(rec.Time), names.Of(rec.Ifindex)); interrupted(err) {
				return sum, nil
			} else if err != nil {
				return sum, err
			}
			sum.Written++
		} else if readerGone(out) {
			return sum, fmt.Errorf("capture: its reader has gone: %w", unix.EPIPE)
		}
		// Still the live capture? (Not after capture --stop or detach
		// --all: it would wait forever.) Its rules still there?
		if time.Since(checked) >= checkEvery*poll {
			checked = time.Now()
			if err := check(ctx, c, dir, opts); err != nil {
				// What it copied before is written all the same.
				for opts.Count == 0 || sum.Written < opts.Count {
					rec, ok, rerr := c.Next(0)
					if rerr != nil || !ok {
						break
					}
					if werr := write(rec, clock(rec.Time), names.Of(rec.Ifindex)); werr != nil {
						break
					}
					sum.Written++
				}
				return sum, err
			}
		}
	}
	return sum, nil
}

// check fails when the capture no longer runs, or the interface it
// selects is gone, or every rule it selects was removed (nothing more
// would be copied: tcpdump ends when its interface goes away), and tells
// opts.Notices of the rules renumbered or removed meanwhile: the records
// name a renumbered rule by its new id.
func check(ctx context.Context, c *loader.Capture, dir string, opts Options) error {
	notices := opts.Notices
	if on, err := c.Running(); err != nil {
		return err
	} else if !on {
		return errors.New("capture: ended from outside (capture --stop, or the state removed by detach --all)")
	}
	if c.IfaceGone() {
		return fmt.Errorf("capture: interface %s is no longer in this network namespace (deleted, or moved to another)", opts.Iface)
	}
	changes, anyLeft, err := c.RuleChanges()
	if err != nil {
		return err
	}
	actions := replacedActions(ctx, dir, changes)
	var gone, replaced []string
	for _, ch := range changes {
		switch {
		case ch.Now == 0 && actions[ch.Was] != "":
			// rule replace kept the id, and the commit took it out for
			// an action the capture's verdicts leave out (as start
			// refuses). Said from what the rule does now, read later:
			// it may have been replaced again since.
			replaced = append(replaced, replacedWhy(ch.Was, actions[ch.Was], opts.Filter))
		case ch.Now == 0:
			gone = append(gone, strconv.FormatUint(uint64(ch.Was), 10))
		case notices != nil:
			fmt.Fprintf(notices, "capture: rule %d is rule %d now (the ruleset was changed): its frames are written as rule %d's\n", ch.Was, ch.Now, ch.Now)
		}
	}
	var what []string
	switch {
	case len(gone) == 1:
		what = append(what, "rule "+gone[0]+" was removed from the ruleset")
	case len(gone) > 1:
		what = append(what, "rules "+strings.Join(gone, ", ")+" were removed from the ruleset")
	}
	what = append(what, replaced...)
	if len(what) == 0 {
		return nil
	}
	if !anyLeft {
		return fmt.Errorf("capture: %s: nothing more would be copied", strings.Join(what, "; "))
	}
	if notices != nil {
		fmt.Fprintf(notices, "capture: %s: the other rules are still captured\n", strings.Join(what, "; "))
	}
	return nil
}

// replacedActions are the actions, by id, of the rules changes took out
// of the capture that are live all the same: rule replace kept the id and
// gave it an action the capture's verdicts leave out. It reads the
// ruleset (the state's lock, a moment) only when a rule was taken out;
// unread, every one taken out is said removed.
func replacedActions(ctx context.Context, dir string, changes []loader.RuleChange) map[uint32]string {
	out := map[uint32]string{}
	if !slices.ContainsFunc(changes, func(ch loader.RuleChange) bool { return ch.Now == 0 }) {
		return out
	}
	// Given up on with the capture: the lock held by a long command, a
	// wait here ignored ^C and left the ring unread.
	s, err := open(ctx, dir)
	if err != nil {
		return out
	}
	defer s.Close()
	rs, err := s.Ruleset()
	if err != nil {
		return out
	}
	for _, r := range rs.Rules {
		out[r.ID] = r.Action.String()
	}
	return out
}

// replacedWhy says why the capture no longer selects rule id, which a
// rule replace kept and which does action now.
func replacedWhy(id uint32, action string, f loader.CaptureFilter) string {
	if action == "pass" && !f.Pass {
		return fmt.Sprintf("rule %d passes the frames it decides now (it was replaced), and only drops are selected", id)
	}
	if action == "drop" && !f.Drop {
		return fmt.Sprintf("rule %d drops the frames it decides now (it was replaced), and only passes are selected", id)
	}
	return fmt.Sprintf("rule %d was replaced, its action changed (and back): it is no longer captured", id)
}

// readerGone reports whether out is a pipe or socket whose reader has
// gone (| head, tcpdump -c, exited). A write would fail with EPIPE, but
// a capture of rare drops may write nothing for hours, its capture on
// and its pipeline not ending meanwhile; polled, such a pipe says POLLERR
// and such a socket POLLHUP.
func readerGone(out io.Writer) bool {
	sc, ok := out.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	gone := false
	rc.Control(func(fd uintptr) {
		p := []unix.PollFd{{Fd: int32(fd)}}
		n, err := unix.Poll(p, 0)
		gone = err == nil && n > 0 && p[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0
	})
	return gone
}

// open opens the state in dir, or gives up when ctx ends first: an
// interrupt while another command holds the state's lock (a long set
// load) was ignored until it let go, the capture then started only to
// stop. The open given up on still ends, and closes what it opened.
func open(ctx context.Context, dir string) (*loader.State, error) {
	type opened struct {
		s   *loader.State
		err error
	}
	done := make(chan opened, 1)
	go func() {
		s, err := loader.Open(dir)
		done <- opened{s, err}
	}()
	select {
	case o := <-done:
		return o.s, o.err
	case <-ctx.Done():
		go func() {
			if o := <-done; o.s != nil {
				o.s.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// sink writes one record.
type sink func(rec loader.CaptureRecord, at time.Time, iface string) error

// newSink is how records are written, and what ends the output.
func newSink(out io.Writer, opts Options) (sink, func() error, error) {
	if !opts.Pcapng {
		return func(rec loader.CaptureRecord, at time.Time, iface string) error {
			_, err := fmt.Fprintln(out, Line(rec, at, iface))
			return err
		}, func() error { return nil }, nil
	}
	pw, err := NewWriter(out, opts.Filter.Snaplen)
	if err != nil {
		return nil, nil, err
	}
	name := opts.Iface
	if name == "" {
		name = "any"
	}
	return func(rec loader.CaptureRecord, at time.Time, iface string) error {
			return pw.WritePacket(Packet{Time: at, Ifindex: rec.Ifindex, Iface: iface, Len: rec.Len, Data: rec.Data, Comment: Comment(rec, iface)})
		}, func() error {
			return pw.Finish(name)
		}, nil
}

// Comment is what decided a packet, as its pcapng comment says it:
// "rule 7 drop iface eth0", "policy drop iface eth0", "malformed drop
// iface eth0", "neighbor pass iface eth0".
func Comment(rec loader.CaptureRecord, iface string) string {
	return fmt.Sprintf("%s %s iface %s", decider(rec), rec.Action, iface)
}

func decider(rec loader.CaptureRecord) string {
	switch rec.Reason {
	case model.ReasonRule.String():
		return "rule " + strconv.FormatUint(uint64(rec.RuleID), 10)
	case model.ReasonDefault.String():
		return "policy"
	}
	return rec.Reason
}

// Line is a packet in one line for a terminal: time, interface, what
// decided it, and the frame as far as it was captured.
func Line(rec loader.CaptureRecord, at time.Time, iface string) string {
	return fmt.Sprintf("%s %s %s %s %s, length %d", at.Format("15:04:05.000000"), iface, rec.Action, decider(rec), summary(rec), rec.Len)
}

// summary is the frame's headers in a few words. A frame cut by the snap
// length fails the decoder's length checks, which read the lengths its
// headers declare against the bytes there: decoded as if its missing
// bytes were there, its headers are shown when every byte they were read
// from was captured, as tcpdump shows a cut frame's.
func summary(rec loader.CaptureRecord) string {
	if len(rec.Data) >= rec.Len {
		p := model.Decode(rec.Data)
		return p.Summary()
	}
	whole := make([]byte, rec.Len)
	copy(whole, rec.Data)
	p := model.Decode(whole)
	if p.Malformed || headersEnd(&p) > len(rec.Data) {
		return "(cut by the snap length)"
	}
	return p.Summary() + " (cut by the snap length)"
}

// headersEnd is where the headers Summary shows end in the frame: the
// transport header's fields (TCP's flags are its 14th byte), else the
// IP header and its extensions, else what comes after Ethernet.
func headersEnd(p *model.Packet) int {
	switch {
	case p.HasTCPFlags:
		return p.L4Off + 14
	case p.HasPorts || p.HasICMP:
		return p.L4Off + 8
	case p.HasProto:
		return p.L4Off
	case p.Kind == model.KindARP:
		return p.L3Off + 28
	}
	return p.L3Off
}

// wallClock converts the kernel's monotonic time (the records') to the
// wall clock, by the offset between the two now.
func wallClock() func(time.Duration) time.Time {
	var mono unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
	offset := time.Now().UnixNano() - mono.Nano()
	return func(t time.Duration) time.Time { return time.Unix(0, offset+int64(t)) }
}

// IfaceNames names interfaces by index, asking the kernel once each.
type IfaceNames map[int]string

// Of is the name of interface ifindex ("if7" if it is gone).
func (n IfaceNames) Of(ifindex int) string {
	if name, ok := n[ifindex]; ok {
		return name
	}
	name := "if" + strconv.Itoa(ifindex)
	if ifc, err := net.InterfaceByIndex(ifindex); err == nil {
		name = ifc.Name
	}
	n[ifindex] = name
	return name
}
