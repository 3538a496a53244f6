package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/replay"
)

// checkLive applies the live ruleset, attaches in native and generic
// mode and the frags program at MTU 9000, sends the captures' frames
// through the veths and requires the live counters to move exactly as
// the replay of the same frames under the same ruleset says. It reports
// whether xdpfw is left attached for the next checks.
func checkLive(r *runner, x *xdpfw, l *lab, rulesPath string, rep *replay.Report, pcaps []string) bool {
	if !r.check("apply-before-attach", func() (string, error) {
		if rep == nil {
			return "", fmt.Errorf("no replay of %s to compare with", rulesPath)
		}
		if _, err := x.run("apply", "-f", rulesPath); err != nil {
			return "", err
		}
		st, err := x.status()
		if err != nil {
			return "", err
		}
		if st.Rules != len(rep.Rules) || len(st.Interfaces) != 0 {
			return "", fmt.Errorf("status after apply: %d rules on %d interfaces, want %d rules on none", st.Rules, len(st.Interfaces), len(rep.Rules))
		}
		return filepath.Base(rulesPath), nil
	}) {
		return false
	}
	var normal, jumbo []string
	for _, p := range pcaps {
		if isJumbo(p) {
			jumbo = append(jumbo, p)
		} else {
			normal = append(normal, p)
		}
	}
	attached := false
	for _, m := range []struct {
		mode string
		p    pair
	}{{"native", l.native}, {"generic", l.generic}} {
		attached = r.check("live/"+m.mode, func() (string, error) {
			if err := attach(x, m.p.dev, m.mode, "xdpfw"); err != nil {
				return "", err
			}
			return sendAndCompare(x, m.p, normal, rep, 0)
		}) || attached
	}
	attached = r.check("live/frags-mtu9000", func() (string, error) {
		if err := attach(x, l.frags.dev, "native", "xdpfw_frags"); err != nil {
			return "", err
		}
		// The point: frames longer than a page reach the program and
		// are counted.
		return sendAndCompare(x, l.frags, jumbo, rep, 4000)
	}) || attached
	return attached
}

// attach attaches xdpfw to dev in mode and checks that status and the
// kernel agree on it: the program of that name (xdpfw, or xdpfw_frags for
// a jumbo MTU) is on dev, in that mode.
func attach(x *xdpfw, dev, mode, prog string) error {
	if _, err := x.run("attach", dev, "--mode", mode); err != nil {
		return err
	}
	st, err := x.status()
	if err != nil {
		return err
	}
	var a *loader.Attachment
	for i := range st.Interfaces {
		if st.Interfaces[i].Iface == dev {
			a = &st.Interfaces[i]
		}
	}
	if a == nil || !a.Attached || string(a.Mode) != mode {
		return fmt.Errorf("status after attach: %+v, want %s attached in %s mode", st.Interfaces, dev, mode)
	}
	kernelID, err := xdpProg(dev)
	if err != nil {
		return err
	}
	if kernelID != a.ProgID {
		return fmt.Errorf("status says program %d on %s, the kernel says %d", a.ProgID, dev, kernelID)
	}
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(kernelID))
	if err != nil {
		return fmt.Errorf("program %d: %w", kernelID, err)
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return err
	}
	if info.Name != prog {
		return fmt.Errorf("program %d on %s is %q, want %q", kernelID, dev, info.Name, prog)
	}
	return nil
}

// expectation is how the live counters must move.
type expectation struct {
	frames  int
	longest int
	verdict map[string]loader.Counter // by stats name: pass, drop, default, ...
	rule    map[uint32]loader.Counter
}

func (e *expectation) add(f replay.FrameResult) {
	e.frames++
	e.longest = max(e.longest, f.Length)
	for _, k := range []string{f.Verdict, f.Reason} {
		c := e.verdict[k]
		c.Packets++
		c.Bytes += uint64(f.Length)
		e.verdict[k] = c
	}
	if f.Reason == "rule" {
		c := e.rule[f.RuleID]
		c.Packets++
		c.Bytes += uint64(f.Length)
		e.rule[f.RuleID] = c
	}
}

// sendAndCompare sends every frame of pcaps on p's peer and compares the
// counters' change with the replay's verdicts for the frames the kernel
// accepted to send. minLongest > 0 requires a frame at least that long
// among them.
func sendAndCompare(x *xdpfw, p pair, pcaps []string, rep *replay.Report, minLongest int) (string, error) {
	results := byFrame(rep)
	before, err := x.stats()
	if err != nil {
		return "", err
	}
	rulesBefore, err := x.ruleList()
	if err != nil {
		return "", err
	}
	ifaceBefore, err := x.ifaceStats(p.dev)
	if err != nil {
		return "", err
	}
	s, err := newSender(p.peer)
	if err != nil {
		return "", err
	}
	defer s.close()
	exp := expectation{verdict: map[string]loader.Counter{}, rule: map[uint32]loader.Counter{}}
	refused := 0
	for _, pcap := range pcaps {
		frames, err := replay.ReadFrames(pcap)
		if err != nil {
			return "", err
		}
		for _, f := range frames {
			res, ok := results[frameKey{pcap, f.Index}]
			if !ok || res.Skipped != "" {
				continue // replay could not run it: no expectation
			}
			sent, err := s.send(f.Data)
			if err != nil {
				return "", fmt.Errorf("send %s frame %d: %w", pcap, f.Index, err)
			}
			if !sent {
				refused++
				continue
			}
			exp.add(res)
			// veth queues at most 256 frames for XDP, the backlog 1000:
			// let the receiving side keep up.
			if exp.frames%32 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	if exp.frames == 0 || exp.longest < minLongest {
		return "", fmt.Errorf("sent %d frames (longest %d bytes, %d refused by the kernel), want some of at least %d bytes", exp.frames, exp.longest, refused, minLongest)
	}
	var after map[string]loader.Counter
	poll(10*time.Second, func() bool {
		after, err = x.stats()
		return err == nil && seen(before, after) >= uint64(exp.frames)
	})
	if err != nil {
		return "", err
	}
	rulesAfter, err := x.ruleList()
	if err != nil {
		return "", err
	}
	if err := compareVerdicts(before, after, exp); err != nil {
		return "", err
	}
	// The interface's own counters moved as much: it alone got frames.
	ifaceAfter, err := x.ifaceStats(p.dev)
	if err != nil {
		return "", err
	}
	if err := compareVerdicts(ifaceBefore, ifaceAfter, exp); err != nil {
		return "", fmt.Errorf("%s's counters: %w", p.dev, err)
	}
	if err := compareRules(rulesBefore, rulesAfter, rep, exp); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d frames up to %d bytes on %s (%d too long or short to send): pass %d, drop %d, as replayed",
		exp.frames, exp.longest, p.dev, refused, exp.verdict["pass"].Packets, exp.verdict["drop"].Packets), nil
}

// seen is how many frames the program counted between two stats.
func seen(before, after map[string]loader.Counter) uint64 {
	return after["pass"].Packets + after["drop"].Packets - before["pass"].Packets - before["drop"].Packets
}

func compareVerdicts(before, after map[string]loader.Counter, exp expectation) error {
	for _, name := range loader.StatNames {
		got := loader.Counter{Packets: after[name].Packets - before[name].Packets, Bytes: after[name].Bytes - before[name].Bytes}
		if got != exp.verdict[name] {
			return fmt.Errorf("stats %s moved by %d packets/%d bytes, replay says %d/%d",
				name, got.Packets, got.Bytes, exp.verdict[name].Packets, exp.verdict[name].Bytes)
		}
	}
	return nil
}

// compareRules checks each rule's counters moved as the replay says. The
// replay's rule ids are the file's, the live ones those apply gave: they
// agree when the ruleset was applied to a fresh pin directory, which the
// match strings confirm.
func compareRules(before, after ruleListJSON, rep *replay.Report, exp expectation) error {
	prev := map[uint32]loader.Counter{}
	for _, r := range before.Rules {
		prev[r.ID] = r.Counter
	}
	byID := map[uint32]ruleRow{}
	for _, r := range after.Rules {
		byID[r.ID] = r
	}
	for _, want := range rep.Rules {
		got, ok := byID[want.ID]
		if !ok || got.Match != want.Match || got.Action != want.Action {
			return fmt.Errorf("live rule %d is %q %s, replay's is %q %s", want.ID, got.Match, got.Action, want.Match, want.Action)
		}
		moved := loader.Counter{Packets: got.Packets - prev[got.ID].Packets, Bytes: got.Bytes - prev[got.ID].Bytes}
		if moved != exp.rule[want.ID] {
			return fmt.Errorf("rule %d (%s) moved by %d packets/%d bytes, replay says %d/%d",
				want.ID, want.Match, moved.Packets, moved.Bytes, exp.rule[want.ID].Packets, exp.rule[want.ID].Bytes)
		}
	}
	return nil
}
