package replay

import (
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Test runs one frame coming in on iface ("" for loopback, as Run)
// through t, which enforces rs, and through the reference model, as the
// first frame of a replay: no flow known, the clock at 0. The result's
// Mismatch says where the two disagree; Skipped, why the program could
// not take the frame.
func Test(t *loader.Instance, rs *rules.Ruleset, frame []byte, iface string) (FrameResult, error) {
	name, ifindex, err := arrival("test", iface)
	if err != nil {
		return FrameResult{}, err
	}
	if err := t.ForgetFlows(); err != nil {
		return FrameResult{}, err
	}
	if err := t.SetClock(0); err != nil {
		return FrameResult{}, err
	}
	f := Frame{Index: 1, Data: frame, WireLen: len(frame)}
	res := FrameResult{File: "packet", Index: 1, Length: len(frame)}
	v, ct, looked, skip, err := runFrame(t, res.File, f, ifindex)
	if err != nil || skip != "" {
		res.Skipped = skip
		return res, err
	}
	res.Verdict, res.Reason, res.RuleID = v.Action.String(), v.Reason.String(), v.RuleID
	if looked {
		res.CT = ct.String()
	}
	sorted := rules.Sorted(rs.Rules)
	p := model.Decode(frame)
	p.Iface = name
	want, wantLooked := model.EvaluateTracked(rs, sorted, rules.HasCTState(sorted), &p, frame, model.NewTracker(model.CTConfigOf(rs)), 0)
	res.Mismatch = mismatch(v, ct, looked, want, p.CT, wantLooked)
	return res, nil
}
