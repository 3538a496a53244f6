// Package replay runs captured frames through the real datapath with
// BPF_PROG_TEST_RUN and, optionally, through the reference model, so a
// ruleset can be proved against traffic before it goes live.
package replay

import (
	"errors"
	"fmt"
	"net"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// FrameResult is one frame's outcome.
type FrameResult struct {
	File    string `json:"file"`
	Index   int    `json:"frame"`
	Length  int    `json:"length"`
	Verdict string `json:"verdict,omitempty"` // pass or drop; empty when skipped
	Reason  string `json:"reason,omitempty"`
	RuleID  uint32 `json:"rule,omitempty"`
	Skipped string `json:"skipped,omitempty"` // why the frame could not be run
	// Mismatch is set when the reference model disagrees (verify mode).
	Mismatch string `json:"mismatch,omitempty"`
}

// RuleSummary counts the frames a rule decided.
type RuleSummary struct {
	ID     uint32 `json:"id"`
	Match  string `json:"match"`
	Action string `json:"action"`
	Frames int    `json:"frames"`
	Bytes  int    `json:"bytes"`
}

// Report is the outcome of a replay.
type Report struct {
	Frames     []FrameResult  `json:"frames"`
	Rules      []RuleSummary  `json:"rules"`
	Verdicts   map[string]int `json:"verdicts"` // pass, drop, and by reason
	Skipped    int            `json:"skipped"`
	Verified   bool           `json:"verified"`
	Mismatches int            `json:"mismatches"`
}

// Options change how a replay runs.
type Options struct {
	// Verify compares each verdict with the reference model.
	Verify bool
	// Iface names the interface the frames arrive on, for rules with an
	// iface condition; it must exist here. Empty means loopback, which
	// is where BPF_PROG_TEST_RUN puts frames by default.
	Iface string
}

// Run replays every frame of files through t, which enforces rs. All
// files are read before anything runs, so a bad file fails the replay
// up front.
func Run(t *loader.Instance, rs *rules.Ruleset, files []string, opts Options) (*Report, error) {
	iface, ifindex := "lo", 0
	if opts.Iface != "" {
		ifi, err := net.InterfaceByName(opts.Iface)
		if err != nil {
			return nil, fmt.Errorf("replay: interface %q: %w", opts.Iface, err)
		}
		iface, ifindex = ifi.Name, ifi.Index
	}
	verify := opts.Verify
	type capture struct {
		name   string
		frames []Frame
	}
	var caps []capture
	for _, f := range files {
		frames, err := ReadFrames(f)
		if err != nil {
			return nil, err
		}
		caps = append(caps, capture{f, frames})
	}

	sorted := rules.Sorted(rs.Rules)
	rep := &Report{Verdicts: map[string]int{}, Verified: verify}
	perRule := map[uint32]*RuleSummary{}
	for _, r := range sorted {
		perRule[r.ID] = &RuleSummary{ID: r.ID, Match: r.Match.String(), Action: r.Action.String()}
	}
	for _, c := range caps {
		for _, f := range c.frames {
			res := FrameResult{File: c.name, Index: f.Index, Length: len(f.Data)}
			v, err := t.RunOn(f.Data, ifindex)
			if errors.Is(err, loader.ErrRunt) {
				res.Skipped = err.Error()
				rep.Skipped++
				rep.Frames = append(rep.Frames, res)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s frame %d: %w", c.name, f.Index, err)
			}
			res.Verdict, res.Reason, res.RuleID = v.Action.String(), v.Reason.String(), v.RuleID
			rep.Verdicts[res.Verdict]++
			rep.Verdicts[res.Reason]++
			if s := perRule[v.RuleID]; s != nil && v.Reason == model.ReasonRule {
				s.Frames++
				s.Bytes += len(f.Data)
			}
			if verify {
				p := model.Decode(f.Data)
				p.Iface = iface
				if want := model.EvaluateDecoded(rs, sorted, &p); want != v {
					res.Mismatch = fmt.Sprintf("reference model says %s", describe(want))
					rep.Mismatches++
				}
			}
			rep.Frames = append(rep.Frames, res)
		}
	}
	for _, r := range sorted {
		rep.Rules = append(rep.Rules, *perRule[r.ID])
	}
	return rep, nil
}

func describe(v model.Verdict) string {
	if v.Reason == model.ReasonRule {
		return fmt.Sprintf("%s by rule %d", v.Action, v.RuleID)
	}
	return fmt.Sprintf("%s (%s)", v.Action, v.Reason)
}
