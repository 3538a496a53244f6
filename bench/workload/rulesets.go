package workload

import (
	"math/rand/v2"
	"net/netip"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

const (
	protoTCP = 6
	protoUDP = 17
)

// ScaleRuleset is n rules of four kinds, taking turns, drawn from the
// traffic's own flows so that part of it matches: a source /24 (IPv4), a
// destination host with TCP and a port, a source /48 (IPv6) with UDP, and
// a source port range (up to 64 ports) that passes. Priorities are random, the policy
// passes. Every field is in use from 4 rules on.
func (t Traffic) ScaleRuleset(n int) *rules.Ruleset {
	rng := rand.New(rand.NewPCG(5, uint64(n)))
	pick := func(ok func(f *fixtures.MixFlow) bool) fixtures.MixFlow {
		for {
			f := t.Flows[rng.IntN(len(t.Flows))]
			if ok(&f) {
				return f
			}
		}
	}
	rs := &rules.Ruleset{Policy: rules.Pass}
	for i := 0; i < n; i++ {
		r := rules.Rule{ID: uint32(i + 1), Priority: uint32(rng.IntN(100)), Action: rules.Drop}
		switch i % 4 {
		case 0:
			f := pick(func(f *fixtures.MixFlow) bool { return f.Src.Is4() })
			r.Match.Src = netip.PrefixFrom(f.Src, 24).Masked()
		case 1:
			f := pick(func(f *fixtures.MixFlow) bool { return f.Proto == protoTCP })
			r.Match.Dst = netip.PrefixFrom(f.Dst, f.Dst.BitLen())
			r.Match.Proto = rules.Proto{Set: true, Num: protoTCP}
			r.Match.Dport = rules.PortRange{Set: true, Lo: f.Dport, Hi: f.Dport}
		case 2:
			f := pick(func(f *fixtures.MixFlow) bool { return f.Src.Is6() })
			r.Match.Src = netip.PrefixFrom(f.Src, 48).Masked()
			r.Match.Proto = rules.Proto{Set: true, Num: protoUDP}
		case 3:
			lo := uint16(rng.IntN(60000))
			r.Match.Sport = rules.PortRange{Set: true, Lo: lo, Hi: lo + uint16(rng.IntN(64))}
			r.Action = rules.Pass
		}
		rs.Rules = append(rs.Rules, r)
	}
	return rs
}

// Denylist is what xdp-filter can express: source addresses and
// destination ports (TCP and UDP) that are dropped, everything else passed.
type Denylist struct {
	Addrs []netip.Addr
	Ports []uint16
}

// Denylist takes the sources of the first flows and the destination ports
// of the first TCP/UDP flows, so the mix hits both kinds of entry.
func (t Traffic) Denylist(addrs, ports int) Denylist {
	var d Denylist
	seenA, seenP := map[netip.Addr]bool{}, map[uint16]bool{}
	for _, f := range t.Flows {
		if len(d.Addrs) < addrs && !seenA[f.Src] {
			seenA[f.Src] = true
			d.Addrs = append(d.Addrs, f.Src)
		}
		if len(d.Ports) < ports && (f.Proto == protoTCP || f.Proto == protoUDP) && !seenP[f.Dport] {
			seenP[f.Dport] = true
			d.Ports = append(d.Ports, f.Dport)
		}
	}
	return d
}

// Ruleset is the denylist as xdpfw rules: one drop rule per address
// (host prefix) and per port (no protocol: TCP and UDP, as xdp-filter).
func (d Denylist) Ruleset() *rules.Ruleset {
	rs := &rules.Ruleset{Policy: rules.Pass}
	add := func(m rules.Match) {
		rs.Rules = append(rs.Rules, rules.Rule{ID: uint32(len(rs.Rules) + 1), Priority: 1000, Match: m, Action: rules.Drop})
	}
	for _, a := range d.Addrs {
		add(rules.Match{Src: netip.PrefixFrom(a, a.BitLen())})
	}
	for _, p := range d.Ports {
		add(rules.Match{Dport: rules.PortRange{Set: true, Lo: p, Hi: p}})
	}
	return rs
}

// StatefulRuleset is Ruleset behind a first rule that passes what
// connection tracking calls established, as a host firewall's ruleset
// starts: every frame then pays the state lookup before the denylist.
func (d Denylist) StatefulRuleset() *rules.Ruleset {
	rs := d.Ruleset()
	rs.Rules = append([]rules.Rule{{ID: uint32(len(rs.Rules) + 1), Priority: 0,
		Match: rules.Match{CTState: rules.CTEstablished}, Action: rules.Pass}}, rs.Rules...)
	return rs
}

// MatchedShare is the share of frames a rule of rs decides, by xdpfw's
// reference model: how much of the mix the ruleset touches.
func (t Traffic) MatchedShare(rs *rules.Ruleset) float64 {
	sorted := rules.Sorted(rs.Rules)
	hit := 0
	for _, f := range t.Frames {
		p := model.Decode(f)
		if model.EvaluateDecoded(rs, sorted, &p).Reason == model.ReasonRule {
			hit++
		}
	}
	return float64(hit) / float64(len(t.Frames))
}
