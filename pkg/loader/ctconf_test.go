package loader

import (
	"strings"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

const ctConfRuleset = `policy: drop
conntrack:
  timeouts:
    udp: 45s
    tcp-established: 2h
rules:
  - {ct-state: "established,related", action: pass}
`

// TestCTConfRoundTrip: the ruleset's conntrack: timeouts reach ct_conf
// with the rules (apply, the test-run instance's Load), read back as the
// live ruleset's, survive rule add and policy changes and the flushed
// counter's writes, and an apply without the section restores the
// defaults (zeros).
func TestCTConfRoundTrip(t *testing.T) {
	s := openLive(t)
	rs, err := rules.ParseYAML("ct.yaml", []byte(ctConfRuleset), rules.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := rs.Conntrack
	if want.Timeouts[layout.CtToUdp] != 45 || want.Timeouts[layout.CtToEstablished] != 7200 {
		t.Fatalf("parsed timeouts %v", want.Timeouts)
	}
	if _, err := s.Apply(rs); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want rules.Conntrack) {
		t.Helper()
		c, err := readCTConf(&s.maps)
		if err != nil || c.Timeout != want.Timeouts {
			t.Errorf("%s: ct_conf %v (%v), want %v", when, c.Timeout, err, want.Timeouts)
		}
		live, err := s.RulesetWithSets()
		if err != nil || live.Conntrack != want {
			t.Errorf("%s: the live ruleset's conntrack %+v (%v), want %+v", when, live, err, want)
		}
	}
	check("apply", want)
	// save writes it back out.
	if live, err := s.RulesetWithSets(); err != nil || !strings.Contains(string(rules.FormatYAML(live)), "udp: 45s") {
		t.Errorf("saved ruleset (%v):\n%s\nwant the conntrack: section's udp: 45s", err, rules.FormatYAML(live))
	}
	if err := countCTChange(&s.maps, -2, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRule(rules.Rule{Action: rules.Pass, Match: rules.Match{Proto: rules.Proto{Set: true, Num: 6}}}); err != nil {
		t.Fatal(err)
	}
	check("rule add", want)
	if _, err := s.SetPolicy(rules.Pass); err != nil {
		t.Fatal(err)
	}
	check("policy", want)
	if c, _ := readCTConf(&s.maps); c.Flushed != 3 || c.Placed != -2 {
		t.Errorf("flushed %d, placed %d after rule changes, want 3 and -2 kept", c.Flushed, c.Placed)
	}
	// Only the section changes: still a commit.
	rs2, err := rules.ParseYAML("ct.yaml", []byte(ctConfRuleset), rules.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs2.Conntrack = rules.Conntrack{}
	live, err := s.RulesetWithSets()
	if err != nil {
		t.Fatal(err)
	}
	rs2.Rules, rs2.Policy = live.Rules, live.Policy
	if res, err := s.Apply(rs2); err != nil || !res.Committed {
		t.Errorf("apply without conntrack: %+v, %v; want a commit", res, err)
	}
	check("apply without conntrack", rules.Conntrack{})

	inst, err := NewInstance(rs, false)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	if c, err := readCTConf(&inst.objs.xdpfwMaps); err != nil || c.Timeout != want.Timeouts {
		t.Errorf("instance ct_conf %v (%v), want %v", c.Timeout, err, want.Timeouts)
	}
}

// TestCTConfBounds: timeouts the live generation's config records (the
// live ruleset's) and ct_conf holds (ct list's and ct stats') are read
// back only within what a ruleset file can set (0, or 1s to 365d); past
// that, reading the live ruleset and ct's tables fails with one line
// naming the timeout.
func TestCTConfBounds(t *testing.T) {
	s := openLive(t)
	put := func(i int, sec uint32) {
		t.Helper()
		err := s.read(func(v *view) error {
			c := v.conf[v.active]
			c.CtTimeout = [layout.NumCtTimeouts]uint32{}
			c.CtTimeout[i] = sec
			if err := writeGenConf(v.m.GenConf, v.active, &c); err != nil {
				return err
			}
			ct, err := readCTConf(v.m)
			if err != nil {
				return err
			}
			ct.Timeout = c.CtTimeout
			return v.m.CtConf.Put(uint32(0), &ct)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put(layout.CtToUdp, 365*86400)
	if live, err := s.RulesetWithSets(); err != nil || live.Conntrack.Timeouts[layout.CtToUdp] != 365*86400 {
		t.Errorf("a 365d timeout: %+v, %v; want read back", live.Conntrack, err)
	}
	put(layout.CtToUdp, 365*86400+1)
	_, rerr := s.RulesetWithSets()
	_, ferr := s.ConntrackFlows(CTFilter{})
	_, serr := s.ConntrackStats()
	for what, err := range map[string]error{"ruleset": rerr, "ct list": ferr, "ct stats": serr} {
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "udp timeout") {
			t.Errorf("%s with a udp timeout past 365d: %v, want one line naming it", what, err)
		}
	}
}

// TestCTTimeoutsSwitchWithRules: an apply that changes only the conntrack
// timeouts, ended just before its switch (as a kill there leaves it),
// leaves the old timeouts live: read back with the ruleset and in the
// datapath's ct_conf. Ended just after the switch, the new ones read
// back, and the next change, whatever it is (here an apply of the live
// ruleset, which commits nothing), first writes them into ct_conf. It was
// written before the switch, so an apply killed between left the old
// rules live with the new timeouts, which save printed as a ruleset
// never applied.
func TestCTTimeoutsSwitchWithRules(t *testing.T) {
	s := openLive(t)
	old, next := udpTimeoutRuleset(t, "45s"), udpTimeoutRuleset(t, "90s")
	ctConf := func(when string, want rules.Conntrack) {
		t.Helper()
		if c, err := readCTConf(&s.maps); err != nil || c.Timeout != want.Timeouts {
			t.Errorf("%s: ct_conf %v (%v), want %v", when, c.Timeout, err, want.Timeouts)
		}
	}
	for _, point := range []string{"switch", "switched"} {
		if _, err := s.Apply(old); err != nil {
			t.Fatal(err)
		}
		cutShort(t, s, point, func(func(done, total int)) { s.Apply(next) })
		want := old
		if point == "switched" {
			want = next
		}
		live, err := s.RulesetWithSets()
		if err != nil {
			t.Fatal(err)
		}
		if live.Conntrack != want.Conntrack {
			t.Errorf("apply ended at %q: the live ruleset's conntrack %+v, want %+v", point, live.Conntrack, want.Conntrack)
		}
		if point == "switch" {
			ctConf("apply ended at \"switch\"", old.Conntrack)
		}
		res, err := s.Apply(live)
		if err != nil {
			t.Fatal(err)
		}
		if res.Committed {
			t.Errorf("apply ended at %q: an apply of the live ruleset was a change", point)
		}
		ctConf("the change after an apply ended at \""+point+"\"", want.Conntrack)
	}
}

// TestCTInEffectAfterKill: an apply of new timeouts ended just after its
// switch leaves the datapath timing flows by the old ones (ct_conf) until
// the next change: ct stats gives those in effect, and ct list a flow's
// time left by them, while the live ruleset reads back the new ones. Both
// read the new config's, so they said a flow the datapath expires in 45 s
// had 90 s left.
func TestCTInEffectAfterKill(t *testing.T) {
	s := openLive(t)
	old, next := udpTimeoutRuleset(t, "45s"), udpTimeoutRuleset(t, "90s")
	if _, err := s.Apply(old); err != nil {
		t.Fatal(err)
	}
	cutShort(t, s, "switched", func(func(done, total int)) { s.Apply(next) })
	if live, err := s.RulesetWithSets(); err != nil || live.Conntrack != next.Conntrack {
		t.Fatalf("the live ruleset's conntrack %+v (%v), want the applied %+v", live.Conntrack, err, next.Conntrack)
	}
	now, err := ctClock()
	if err != nil {
		t.Fatal(err)
	}
	k := xdpfwCtKey{Family: 4, Proto: 17, Lport: 40000, Rport: 53}
	if err := s.maps.Ct.Put(&k, &xdpfwCtVal{LastSeen: uint64(now), Kind: layout.CtKindUdp}); err != nil {
		t.Fatal(err)
	}
	st, err := s.ConntrackStats()
	if err != nil || st.Timeouts["udp"] != 45 {
		t.Errorf("ct stats' udp timeout %d (%v), want 45, in effect", st.Timeouts["udp"], err)
	}
	flows, err := s.ConntrackFlows(CTFilter{})
	if err != nil || len(flows) != 1 || flows[0].Left > 45*time.Second {
		t.Errorf("ct list %+v (%v), want one flow with at most 45 s left", flows, err)
	}
}

// TestCTTimeoutsWithSetsAtSwitch: an apply that changes a set's elements
// and the timeouts writes ct_conf as soon as its switch is made, before
// the set's elements settle: here that work fails (its set's slot is
// gone), and the new rules, live, are timed by their own timeouts. They
// were written only once the sets had settled, so the failure left the
// new rules with the old timeouts until the next change.
func TestCTTimeoutsWithSetsAtSwitch(t *testing.T) {
	s := openLive(t)
	parse := func(udp, elem string) *rules.Ruleset {
		rs, err := rules.ParseYAML("ct.yaml", []byte("policy: drop\nconntrack: {timeouts: {udp: "+udp+"}}\n"+
			"sets:\n  bad: {family: ipv4, elements: ["+elem+"]}\n"+
			"rules:\n  - {ct-state: \"established,related\", action: pass}\n  - {src: \"@bad\", action: drop}\n"), rules.FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	old, next := parse("45s", "198.51.100.0/24"), parse("90s", "203.0.113.0/24")
	if _, err := s.Apply(old); err != nil {
		t.Fatal(err)
	}
	stopChangesAt(s, func(point string) {
		if point != "switched" {
			return
		}
		v, err := readView(&s.maps)
		if err != nil {
			t.Error(err)
			return
		}
		if err := s.maps.Set4Lpm.Delete(v.all["bad"].Slot); err != nil {
			t.Error(err)
		}
	})
	_, err := s.Apply(next)
	stopChangesAt(s, nil)
	if err == nil {
		t.Fatal("the apply whose set's slot went at its switch succeeded")
	}
	v, err := readView(&s.maps)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.conf[v.active].CtTimeout; got != next.Conntrack.Timeouts {
		t.Fatalf("the live config's timeouts %v, want the applied %v (the switch was made)", got, next.Conntrack.Timeouts)
	}
	if c, err := readCTConf(&s.maps); err != nil || c.Timeout != next.Conntrack.Timeouts {
		t.Errorf("ct_conf after the apply failed past its switch: %v (%v), want the live rules' %v", c.Timeout, err, next.Conntrack.Timeouts)
	}
}

// udpTimeoutRuleset is a stateful drop-policy ruleset whose UDP flows
// time out after udp.
func udpTimeoutRuleset(t *testing.T, udp string) *rules.Ruleset {
	t.Helper()
	rs, err := rules.ParseYAML("ct.yaml", []byte("policy: drop\nconntrack: {timeouts: {udp: "+udp+"}}\nrules:\n  - {ct-state: \"established,related\", action: pass}\n"), rules.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
