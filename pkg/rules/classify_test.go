package rules

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestClassifyAgreesWithEvaluate checks the compiler and the datapath's
// algorithm (in its Go mirror) against the reference model on random
// rulesets built from a small pool of overlapping values, and random
// packets drawn from the same pool and its edges.
func TestClassifyAgreesWithEvaluate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// [family][i]: every prefix list nests and overlaps the addresses.
	prefixes := [2][]string{
		{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "192.0.2.0/24", "0.0.0.0/0"},
		{"2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::5/128", "::/0", "fd00::/8"},
	}
	addrs := [2][]string{
		{"10.1.2.3", "10.1.2.4", "10.2.0.1", "192.0.2.9", "8.8.8.8"},
		{"2001:db8:1::5", "2001:db8:1::6", "2001:db8:2::1", "fd00::1"},
	}
	ports := []PortRange{{true, 0, 0}, {true, 22, 22}, {true, 1000, 2000}, {true, 2000, 65535}, {true, 53, 53}}
	protos := []uint8{6, 17, 1, 58, 47}

	pick := func(n int) int { return rng.IntN(n) }
	for round := 0; round < 300; round++ {
		rs := &Ruleset{Policy: Action(1 + pick(2))}
		for i, n := 0, 1+pick(150); i < n; i++ {
			r := Rule{ID: uint32(i + 1), Priority: uint32(pick(5)), Action: Action(1 + pick(2))}
			fam := pick(2)
			if pick(3) == 0 {
				r.Match.Src = netip.MustParsePrefix(prefixes[fam][pick(len(prefixes[fam]))])
			}
			if pick(3) == 0 {
				r.Match.Dst = netip.MustParsePrefix(prefixes[fam][pick(len(prefixes[fam]))])
			}
			if pick(2) == 0 {
				r.Match.Proto = Proto{true, protos[pick(len(protos))]}
			}
			portsOK := !r.Match.Proto.Set || r.Match.Proto.Num == 6 || r.Match.Proto.Num == 17
			if portsOK && pick(3) == 0 {
				r.Match.Sport = ports[pick(len(ports))]
			}
			if portsOK && pick(3) == 0 {
				r.Match.Dport = ports[pick(len(ports))]
			}
			rs.Rules = append(rs.Rules, r)
		}
		tables, err := Compile(rs)
		if err != nil {
			t.Fatal(err)
		}
		sorted := Sorted(rs.Rules)
		for i := 0; i < 200; i++ {
			p := randomPacket(rng, addrs, protos)
			want := EvaluateDecoded(rs, sorted, &p)
			rank, _ := tables.Classify(&p)
			got := verdictOf(tables, rank, &p)
			if got != want {
				t.Fatalf("round %d: packet %+v: classifier %v, reference %v\nrules: %v", round, p, got, want, sorted)
			}
		}
	}
}

// verdictOf turns a rank into a verdict as the datapath does.
func verdictOf(t *Tables, rank int, p *Packet) Verdict {
	switch {
	case p.Malformed:
		return Verdict{Action: Drop, Reason: ReasonMalformed}
	case rank >= 0:
		return Verdict{Action: t.Order[rank].Action, Reason: ReasonRule, RuleID: t.Order[rank].ID}
	case p.Kind == KindARP || p.ND:
		return Verdict{Action: Pass, Reason: ReasonNeighbor}
	}
	return Verdict{Action: t.Policy, Reason: ReasonDefault}
}

func randomPacket(rng *rand.Rand, addrs [2][]string, protos []uint8) Packet {
	switch rng.IntN(12) {
	case 0:
		return Packet{Kind: KindARP, EtherType: 0x0806}
	case 1:
		return Packet{Kind: KindOther, EtherType: 0x88cc}
	}
	fam := rng.IntN(2)
	a := func() netip.Addr { return netip.MustParseAddr(addrs[fam][rng.IntN(len(addrs[fam]))]) }
	p := Packet{Kind: KindIPv4 + Kind(fam), Src: a(), Dst: a(), HasProto: true, Proto: protos[rng.IntN(len(protos))]}
	switch {
	case p.Proto == 58 && fam == 1 && rng.IntN(2) == 0:
		p.ND = true
	case (p.Proto == 6 || p.Proto == 17) && rng.IntN(5) > 0:
		p.HasPorts = true
		edges := []uint16{0, 1, 22, 53, 999, 1000, 2000, 2001, 65535}
		p.Sport, p.Dport = edges[rng.IntN(len(edges))], edges[rng.IntN(len(edges))]
	case p.Proto == 6 || p.Proto == 17:
		p.Fragment = true
	}
	return p
}
