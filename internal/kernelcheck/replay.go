package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/xdpfw/xdpfw/pkg/replay"
)

// checkReplays replays every capture under every ruleset with --verify:
// exit 0 and the reference model agreeing on every frame. It returns the
// reports by ruleset path (the live checks derive their expectations from
// them), or nil when the first replay did not run at all, which means the
// program does not load on this kernel.
func checkReplays(r *runner, x *xdpfw, rulesets, pcaps []string) map[string]*replay.Report {
	reports := map[string]*replay.Report{}
	for i, rs := range rulesets {
		name := "replay/" + filepath.Base(rs)
		args := append([]string{"replay", "--verify", "--json", "--rules", rs}, pcaps...)
		res := x.exec(x.timeout, nil, args...)
		rep := &replay.Report{}
		decodeErr := json.Unmarshal([]byte(res.stdout), rep)
		if i == 0 && decodeErr != nil {
			r.fail(name, firstErr(res.err, decodeErr))
			return nil
		}
		r.check(name, func() (string, error) {
			if decodeErr != nil {
				return "", firstErr(res.err, decodeErr)
			}
			if rep.Mismatches > 0 || !rep.Verified {
				return "", fmt.Errorf("%d frames disagree with the reference model (verified %v): %s", rep.Mismatches, rep.Verified, firstMismatch(rep))
			}
			if res.err != nil {
				return "", res.err
			}
			ran := len(rep.Frames) - rep.Skipped
			if ran == 0 {
				return "", fmt.Errorf("no frame ran")
			}
			return fmt.Sprintf("%d frames of %d captures agree, %s", ran, len(pcaps), res.elapsed.Round(time.Second)), nil
		})
		reports[rs] = rep
	}
	return reports
}

func firstMismatch(rep *replay.Report) string {
	for _, f := range rep.Frames {
		if f.Mismatch != "" {
			return fmt.Sprintf("%s frame %d: datapath %s (%s, rule %d), %s", f.File, f.Index, f.Verdict, f.Reason, f.RuleID, f.Mismatch)
		}
	}
	return "none listed"
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// frameKey names one frame of a capture, as replay reports it.
type frameKey struct {
	file  string
	index int
}

func byFrame(rep *replay.Report) map[frameKey]replay.FrameResult {
	m := make(map[frameKey]replay.FrameResult, len(rep.Frames))
	for _, f := range rep.Frames {
		m[frameKey{f.File, f.Index}] = f
	}
	return m
}

func isJumbo(pcap string) bool { return strings.HasSuffix(pcap, "jumbo.pcap") }
