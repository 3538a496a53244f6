// Package replay runs captured frames through the real datapath with
// BPF_PROG_TEST_RUN and, optionally, through the reference model, so a
// ruleset can be proved against traffic before it goes live.
package replay

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// FrameResult is one frame's outcome.
type FrameResult struct {
	File    string `json:"file"`
	Index   int    `json:"frame"`
	Length  int    `json:"length"`
	Verdict string `json:"verdict,omitempty"` // pass or drop; empty when skipped or truncated
	Reason  string `json:"reason,omitempty"`
	RuleID  uint32 `json:"rule,omitempty"`
	Skipped string `json:"skipped,omitempty"` // why the frame could not be run
	// Truncated is set when the capture kept only Length of WireLength
	// bytes: such a frame is not run, since its verdict would be the cut
	// frame's, not the real one's.
	Truncated  bool `json:"truncated,omitempty"`
	WireLength int  `json:"wire_length,omitempty"`
	// Out is set for a frame going out (Options.Local, or the capture's
	// direction): it ran through the egress program, which learns its
	// flow and decides nothing, so it has no verdict.
	Out bool `json:"out,omitempty"`
	// CT is the connection-tracking state the datapath found for a frame
	// coming in; empty when it looked nothing up.
	CT string `json:"ct,omitempty"`
	// Mismatch is set when the reference model disagrees (verify mode).
	Mismatch string `json:"mismatch,omitempty"`
}

// RuleSummary counts the frames a rule decided.
type RuleSummary struct {
	ID      uint32 `json:"id"`
	Match   string `json:"match"`
	Action  string `json:"action"`
	Comment string `json:"comment"` // "" when the rule has none
	Frames  int    `json:"frames"`
	Bytes   int    `json:"bytes"`
}

// Report is the outcome of a replay. Skipped and truncated frames are
// listed but count in no verdict.
type Report struct {
	// Frames are the frames replayed; under Options.Summary only those
	// not run and those the model disagrees on, and none when
	// Options.Each was given them.
	Frames     []FrameResult  `json:"frames"`
	Total      int            `json:"total"` // frames read, listed or not
	Rules      []RuleSummary  `json:"rules"`
	Verdicts   map[string]int `json:"verdicts"` // pass, drop, and by reason
	Skipped    int            `json:"skipped"`
	Truncated  int            `json:"truncated"`
	Learned    int            `json:"learned"` // frames going out, run through the egress program
	Verified   bool           `json:"verified"`
	Mismatches int            `json:"mismatches"`
	// FullTable counts the mismatches met once the model's connection
	// table had evicted a flow: past max-flows the kernel's LRU map
	// evicts in another order than the model's exact one, so those are
	// no bug (a larger max-flows verifies the capture).
	FullTable int `json:"full_table"`
	// Errors has one line per capture that could not be read to its end
	// (its frames before the bad record are in Frames).
	Errors []string `json:"errors"`
}

// Options change how a replay runs.
type Options struct {
	// Verify compares each verdict with the reference model.
	Verify bool
	// Iface names the interface the frames arrive on, for rules with an
	// iface condition; it must exist here. Empty means loopback, which
	// is where BPF_PROG_TEST_RUN puts frames by default.
	Iface string
	// Local are this host's prefixes: a frame from one of them goes out.
	// Empty means the capture's own direction information (Frame.Out).
	Local []netip.Prefix
	// Summary keeps in Report.Frames only the frames not run (skipped,
	// truncated) and those the model disagrees on: the rest are counted
	// alone, so memory does not grow with a capture's frames (a result
	// each was ten times the bytes the capture took on disk).
	Summary bool
	// Each, when set, is given every frame's result as it is decided, in
	// order, and Report.Frames holds none: a caller printing them all
	// prints them as they come, in memory that does not grow with the
	// capture. An error from it stops the replay and is Run's.
	Each func(FrameResult) error
}

// add counts res and gives it to opts.Each, or else lists it, unless
// only a summary is wanted and it ran as the model says.
func (rep *Report) add(res FrameResult, opts Options) error {
	rep.Total++
	switch {
	case opts.Each != nil:
		return opts.Each(res)
	case !opts.Summary || res.Skipped != "" || res.Truncated || res.Mismatch != "":
		rep.Frames = append(rep.Frames, res)
	}
	return nil
}

// MayLookUpCT says whether a replay under rs can find a connection
// tracking state for a frame coming in (FrameResult.CT): the datapath
// looks one up only for a ruleset with a ct-state rule, or for a DHCP
// reply meeting a drop policy (model.EvaluateTracked).
func MayLookUpCT(rs *rules.Ruleset) bool {
	return rs.Policy == rules.Drop || rules.HasCTState(rs.Rules)
}

// Run replays every frame of files through t, which enforces rs. Each
// file is streamed, one frame at a time. A file that cannot be read, or
// whose record turns out corrupt, adds a line to Report.Errors and the
// other files still run; a frame the program cannot take (too short, too
// large for the test run) is skipped with its reason. The error is for
// what stops the whole replay: a bad interface, or the instance failing.
//
// Connection tracking replays as a host sees it, whatever the ruleset:
// frames going out (Options.Local, else the capture's direction) run
// through the egress program, which learns their flows, and the rest
// through XDP, against one table; with Verify the model does the same
// with a table of its own (Tracker.Egress, EvaluateTracked). The clock is
// the capture's: ns since the first frame (a trace instance reads it, see
// Instance.SetClock), so timeouts replay as they happened; the table
// starts empty (ForgetFlows), whatever t ran before. Learning
// always, not only when a rule names ct-state, is what keeps DHCP replies
// right: the datapath looks those up under any ruleset.
func Run(t *loader.Instance, rs *rules.Ruleset, files []string, opts Options) (*Report, error) {
	iface, ifindex, err := arrival("replay", opts.Iface)
	if err != nil {
		return nil, err
	}
	verify := opts.Verify
	sorted := rules.Sorted(rs.Rules)
	usesCT := rules.HasCTState(sorted)
	tracker := model.NewTracker(model.CTConfigOf(rs))
	var clock captureClock
	if err := t.ForgetFlows(); err != nil {
		return nil, err
	}
	rep := &Report{Frames: []FrameResult{}, Rules: []RuleSummary{}, Verdicts: map[string]int{}, Verified: verify, Errors: []string{}}
	// Every verdict and reason is counted, none as 0: a gate reading
	// --json's verdicts.drop finds 0, not null, when nothing dropped.
	for _, k := range []fmt.Stringer{rules.Pass, rules.Drop, model.ReasonRule, model.ReasonDefault, model.ReasonMalformed, model.ReasonNeighbor} {
		rep.Verdicts[k.String()] = 0
	}
	perRule := map[uint32]*RuleSummary{}
	for _, r := range sorted {
		perRule[r.ID] = &RuleSummary{ID: r.ID, Match: r.Match.String(), Action: r.Action.String(), Comment: r.Comment}
	}
	err = EachFrame(files, func(file string, f Frame) error {
		res := FrameResult{File: file, Index: f.Index, Length: len(f.Data)}
		switch {
		case f.Skip != "":
			res.Skipped = f.Skip
			rep.Skipped++
			return rep.add(res, opts)
		case f.Truncated():
			res.Truncated, res.WireLength = true, f.WireLen
			rep.Truncated++
			return rep.add(res, opts)
		}
		now := clock.at(f.Time)
		if err := t.SetClock(uint64(now)); err != nil {
			return err
		}
		if goesOut(f, opts.Local) {
			skip, err := learnFrame(t, file, f)
			switch {
			case err != nil:
				return err
			case skip != "":
				res.Skipped = skip
				rep.Skipped++
			default:
				res.Out = true
				rep.Learned++
				if verify {
					p := model.Decode(f.Data)
					tracker.Egress(&p, f.Data, now)
				}
			}
			return rep.add(res, opts)
		}
		v, ct, looked, skip, err := runFrame(t, file, f, ifindex)
		if err != nil {
			return err
		}
		if skip != "" {
			res.Skipped = skip
			rep.Skipped++
			return rep.add(res, opts)
		}
		res.Verdict, res.Reason, res.RuleID = v.Action.String(), v.Reason.String(), v.RuleID
		if looked {
			res.CT = ct.String()
		}
		rep.Verdicts[res.Verdict]++
		rep.Verdicts[res.Reason]++
		if s := perRule[v.RuleID]; s != nil && v.Reason == model.ReasonRule {
			s.Frames++
			s.Bytes += len(f.Data)
		}
		if verify {
			p := model.Decode(f.Data)
			p.Iface = iface
			want, wantLooked := model.EvaluateTracked(rs, sorted, usesCT, &p, f.Data, tracker, now)
			res.Mismatch = mismatch(v, ct, looked, want, p.CT, wantLooked)
			if res.Mismatch != "" {
				rep.Mismatches++
				if tracker.Evictions > 0 {
					rep.FullTable++
				}
			}
		}
		return rep.add(res, opts)
	}, func(err error) { rep.Errors = append(rep.Errors, err.Error()) })
	if err != nil {
		return nil, err
	}
	for _, r := range sorted {
		rep.Rules = append(rep.Rules, *perRule[r.ID])
	}
	return rep, nil
}

// goesOut says whether f leaves this host: by its source address when
// local prefixes are given, else by what the capture recorded.
func goesOut(f Frame, local []netip.Prefix) bool {
	if len(local) == 0 {
		return f.Out
	}
	src := model.Decode(f.Data).Src
	if !src.IsValid() {
		return false // not IP
	}
	for _, p := range local {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// captureClock turns capture timestamps into conntrack's clock: time since
// the first frame, never going back (a record without a timestamp, or one
// stamped earlier, keeps the time of the one before).
type captureClock struct {
	first time.Time
	now   time.Duration
}

func (c *captureClock) at(ts time.Time) time.Duration {
	if ts.IsZero() {
		return c.now
	}
	if c.first.IsZero() {
		c.first = ts
	}
	c.now = max(c.now, ts.Sub(c.first))
	return c.now
}

// mismatch is where the model's verdict and connection-tracking state
// (want, wantCT, wantLooked) differ from the datapath's, or "".
func mismatch(v model.Verdict, ct model.CTState, looked bool, want model.Verdict, wantCT model.CTState, wantLooked bool) string {
	switch {
	case want != v:
		return fmt.Sprintf("reference model says %s", describe(want))
	case wantLooked != looked || wantCT != ct:
		return fmt.Sprintf("reference model says ct %s", ctDescribe(wantCT, wantLooked))
	}
	return ""
}

func ctDescribe(st model.CTState, looked bool) string {
	if !looked {
		return "not looked up"
	}
	return st.String()
}

// arrival resolves the interface replayed frames arrive on: its name for
// the reference model and its index for the test run. No name means
// loopback, where BPF_PROG_TEST_RUN puts frames by default (index 0).
func arrival(cmd, name string) (iface string, ifindex int, err error) {
	if name == "" {
		return "lo", 0, nil
	}
	ifi, err := net.InterfaceByName(name)
	var op *net.OpError
	if errors.As(err, &op) && op.Err.Error() == "no such network interface" {
		// net's wording ("route ip+net: no such network interface")
		// names its lookup, not what to do.
		return "", 0, fmt.Errorf("%s: --iface %s: no such interface in this network namespace (ip link lists them)", cmd, name)
	}
	if err != nil {
		return "", 0, fmt.Errorf("%s: interface %q: %w", cmd, name, err)
	}
	return ifi.Name, ifi.Index, nil
}

// runFrame runs one frame through t's XDP program. A refusal that
// belongs to the frame (runt, too large for the test run) comes back as
// the reason to skip it; any other failure is the instance's, an error
// naming the frame.
func runFrame(t *loader.Instance, file string, f Frame, ifindex int) (v model.Verdict, ct model.CTState, looked bool, skip string, err error) {
	v, ct, looked, err = t.RunIn(f.Data, ifindex)
	if err == nil {
		return v, ct, looked, "", nil
	}
	if reason, ok := Unrunnable(f.Data, err); ok {
		return v, 0, false, reason, nil
	}
	return v, 0, false, "", fmt.Errorf("%s frame %d: %w", file, f.Index, err)
}

// learnFrame runs one frame going out through t's egress program; a
// refusal is as runFrame's.
func learnFrame(t *loader.Instance, file string, f Frame) (skip string, err error) {
	err = t.RunEgress(f.Data)
	if err == nil {
		return "", nil
	}
	if reason, ok := Unrunnable(f.Data, err); ok {
		return "outgoing: " + reason, nil
	}
	return "", fmt.Errorf("%s frame %d: %w", file, f.Index, err)
}

// EachFrame streams the frames of files, in order, to fn; a directory
// stands for the captures under it (expandDir). A file that cannot be
// opened or read to its end goes to bad (one line naming it and, for a bad
// record, its byte offset), and the next file follows. An error from fn
// stops everything and is returned. So is finding nothing at all to read
// (every path a directory holding no capture file): a report of no frame
// from no file would pass for proof. A directory holding none beside paths
// that do goes to bad, as a file that cannot be read does: a gate must not
// pass on less traffic than it was given. A capture file of no frames is
// read, and gives none.
func EachFrame(files []string, fn func(file string, f Frame) error, bad func(error)) error {
	// seen is whether a file was opened or anything reported (a file that
	// could not be opened, a directory that could not be read): only
	// silence all the way through is no capture.
	seen := false
	reported := func(err error) {
		seen = true
		bad(err)
	}
	var empty []string
	for _, file := range files {
		if fi, err := os.Stat(file); err == nil && fi.IsDir() {
			before := seen
			seen = false
			err := eachFrame(expandDir(file, reported), fn, reported, &seen)
			if !seen {
				empty = append(empty, file)
			}
			seen = seen || before
			if err != nil {
				return err
			}
			continue
		}
		if err := eachFrame([]string{file}, fn, reported, &seen); err != nil {
			return err
		}
	}
	if !seen && len(files) > 0 {
		return noCaptureError(files)
	}
	for _, dir := range empty {
		bad(noCaptureError([]string{dir}))
	}
	return nil
}

// eachFrame is EachFrame over files, none a directory, setting seen when
// it opens one.
func eachFrame(files []string, fn func(file string, f Frame) error, bad func(error), seen *bool) error {
	for _, file := range files {
		*seen = true
		rd, err := Open(file)
		if err != nil {
			bad(err)
			continue
		}
		for {
			f, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				bad(err)
				break
			}
			if err := fn(file, f); err != nil {
				rd.Close()
				return err
			}
		}
		rd.Close()
	}
	return nil
}

// Unrunnable says why BPF_PROG_TEST_RUN could not run frame, when err is
// one of the refusals that belong to the frame rather than to the program:
// too short to be Ethernet, or too large for the test run's buffer.
func Unrunnable(frame []byte, err error) (string, bool) {
	switch {
	case errors.Is(err, loader.ErrRunt):
		return err.Error(), true
	case errors.Is(err, unix.ENOMEM), errors.Is(err, unix.E2BIG), errors.Is(err, unix.EINVAL):
		reason := fmt.Sprintf("BPF_PROG_TEST_RUN refused the %d-byte frame (%s)", len(frame), unix.ErrnoName(errnoOf(err)))
		if errors.Is(err, unix.ENOMEM) {
			reason = fmt.Sprintf("too large for BPF_PROG_TEST_RUN (%d bytes: ENOMEM)", len(frame))
		}
		if superFrame(frame) {
			reason = skipSuperFrame
		}
		return reason, true
	}
	return "", false
}

func errnoOf(err error) unix.Errno {
	var e unix.Errno
	errors.As(err, &e)
	return e
}

func describe(v model.Verdict) string {
	if v.Reason == model.ReasonRule {
		return fmt.Sprintf("%s by rule %d", v.Action, v.RuleID)
	}
	return fmt.Sprintf("%s (%s)", v.Action, v.Reason)
}
