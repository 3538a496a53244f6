package loader

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/internal/rulegen"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// liveSolo reports whether the instance's live generation is in solo form.
func liveSolo(t *testing.T, inst *Instance) bool {
	t.Helper()
	return liveConf(t, inst).Flags&layout.GfSolo != 0
}

// agree runs each rule's edge frames, frames from and to the edges of
// every set element, and random ones through inst and the reference
// model.
func agree(t *testing.T, inst *Instance, rs *rules.Ruleset, rng *rand.Rand) {
	t.Helper()
	specs := rulegen.Edges(rs)
	for _, set := range rs.Sets {
		for _, p := range set.Prefixes {
			for _, a := range rulegen.PrefixEdges(p) {
				f := rulegen.RandomFrame(rng)
				if f.Src.IsValid() && f.Src.Is4() == a.Is4() {
					g := f
					f.Src, g.Dst = a, a
					specs = append(specs, f, g)
				}
			}
		}
	}
	for range 300 {
		specs = append(specs, rulegen.RandomFrame(rng))
	}
	for _, spec := range specs {
		frame := spec.Bytes()
		got, err := inst.Run(frame)
		if err != nil {
			t.Fatal(err)
		}
		if want := model.Evaluate(rs, frame); got != want {
			t.Fatalf("frame %+v: datapath %v, reference model %v\nrules:\n%s", spec, got, want, rules.FormatYAML(rs))
		}
	}
}

// TestSoloDatapath: a ruleset whose rules are each on one dimension
// (nested prefixes of both families, overlapping port ranges, overlapping
// sets in both directions) is
// classified in solo form, without vectors, and agrees with the model;
// one rule on two dimensions more puts it back on the vectors.
func TestSoloDatapath(t *testing.T) {
	privtest.Require(t)
	rs := mustRuleset(t, `policy: drop
sets:
  feed: {family: ipv4, elements: [198.51.100.0/24, 203.0.113.7]}
  wide: {family: ipv4, elements: [198.51.0.0/16, 10.1.2.0/24]}
rules:
  - {priority: 1, src: 10.1.0.0/16, action: pass}
  - {priority: 2, src: 10.0.0.0/8, action: drop}
  - {priority: 3, src: 10.1.2.3, action: drop}
  - {priority: 4, dport: 22, action: pass}
  - {priority: 5, dport: 20-30, action: drop}
  - {priority: 6, src: "@feed", action: drop}
  - {priority: 7, dst: 2001:db8::/32, action: pass}
  - {priority: 8, dst: 2001:db8:1::/48, action: drop}
  - {priority: 9, proto: udp, action: pass}
  - {priority: 10, src: "@wide", action: pass}
  - {priority: 11, dst: "@feed", action: pass}
  - {priority: 12, dst: "@wide", action: drop}
`)
	inst, err := NewInstance(rs, true)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	if !liveSolo(t, inst) {
		t.Fatal("a ruleset of one-dimension rules is not in solo form")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	agree(t, inst, rs, rng)

	rs.Rules = append(rs.Rules, rules.Rule{ID: 100, Priority: 0, Action: rules.Pass,
		Match: rules.Match{Src: rs.Rules[1].Match.Src, Dport: rules.PortRange{Set: true, Lo: 22, Hi: 22}}})
	if err := inst.Load(rs); err != nil {
		t.Fatal(err)
	}
	if liveSolo(t, inst) {
		t.Fatal("a rule on two dimensions, and the ruleset is still in solo form")
	}
	agree(t, inst, rs, rng)
}

// oneDimension is rulegen.OneDimension, failing t on an error.
func oneDimension(t *testing.T, rs *rules.Ruleset) *rules.Ruleset {
	t.Helper()
	out, err := rulegen.OneDimension(rs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTCPFlagsListAgrees: a file's bare "syn,ack", now taken with a
// warning, still means both set in the datapath and the model alike,
// and so does the "/" form save writes for it: a SYN alone, an ACK alone
// pass, a SYN-ACK is dropped.
func TestTCPFlagsListAgrees(t *testing.T) {
	privtest.Require(t)
	old := mustRuleset(t, "policy: pass\nrules:\n  - action: drop\n    tcp-flags: syn,ack\n")
	if len(old.Warnings) != 1 {
		t.Fatalf("warnings %v, want one", old.Warnings)
	}
	saved := mustRuleset(t, string(rules.FormatYAML(old)))
	if saved.Warnings != nil || saved.Rules[0] != old.Rules[0] {
		t.Fatalf("save read back as %+v, warnings %v; want %+v and none", saved.Rules, saved.Warnings, old.Rules)
	}
	inst, err := NewInstance(old, true)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	for flags, want := range map[uint8]rules.Action{0x02: rules.Pass, 0x10: rules.Pass, 0x12: rules.Drop, 0x1a: rules.Drop} {
		f := rulegen.Frame{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("198.51.100.1"), TTL: 64,
			Proto: rules.ProtoTCP, Sport: 40000, Dport: 80, TCPFlags: flags}
		got, err := inst.Run(f.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if m := model.Evaluate(old, f.Bytes()); got.Action != want || m.Action != want {
			t.Errorf("flags %#x: datapath %v, model %v, want %v", flags, got, m, want)
		}
	}
	agree(t, inst, old, rand.New(rand.NewPCG(9, 10)))
}
