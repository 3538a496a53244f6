package classifytest_test

import (
	"math/rand/v2"
	"testing"

	"github.com/xdpfw/xdpfw/internal/classifytest"
	"github.com/xdpfw/xdpfw/internal/rulegen"
	"github.com/xdpfw/xdpfw/pkg/classifier"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestClassifyAgreesWithEvaluate checks the compiler and the datapath's
// algorithm (in its Go mirror) against the reference model on random
// rulesets over every condition (every other one cut to its rules on one
// dimension, so the solo form is checked too), with frames built from the
// rules' own edges and at random, decoded by the reference decoder.
func TestClassifyAgreesWithEvaluate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	solos := 0
	for round := 0; round < 150; round++ {
		rs := rulegen.Ruleset(rng, 1+rng.IntN(150))
		if round%2 == 1 { // rules on one dimension: the solo form too
			var err error
			if rs, err = rulegen.OneDimension(rs); err != nil {
				t.Fatal(err)
			}
		}
		tables, err := classifier.Compile(rs)
		if err != nil {
			t.Fatal(err)
		}
		solo, isSolo := tables.Solo()
		if isSolo {
			solos++
		}
		sorted := rules.Sorted(rs.Rules)
		frames := rulegen.Edges(rs)
		for i := 0; i < 200; i++ {
			frames = append(frames, rulegen.RandomFrame(rng))
		}
		for i, f := range frames {
			p := model.Decode(f.Bytes())
			p.Iface = []string{"lo", "eth0", "eth1"}[i%3]
			// Any state connection tracking can give this packet: IP
			// other than neighbour discovery has one, the rest none.
			if (p.Kind == model.KindIPv4 || p.Kind == model.KindIPv6) && !p.ND && !p.Malformed {
				p.CT = []model.CTState{model.CTNew, model.CTEstablished, model.CTRelated, model.CTInvalid}[rng.IntN(4)]
			}
			want := model.EvaluateDecoded(rs, sorted, &p)
			rank, _ := classifytest.Classify(tables, rs.Sets, &p)
			if got := verdictOf(tables, rank, &p); got != want {
				t.Fatalf("round %d: frame %+v\npacket %+v: classifier %v, reference %v\nrules: %v", round, f, p, got, want, sorted)
			}
			if isSolo {
				if got := verdictOf(tables, classifytest.ClassifySolo(solo, rs.Sets, &p), &p); got != want {
					t.Fatalf("round %d, solo form: frame %+v\npacket %+v: classifier %v, reference %v\nrules: %v", round, f, p, got, want, sorted)
				}
			}
		}
	}
	if solos == 0 {
		t.Error("no ruleset had a solo form")
	}
}

// verdictOf turns a rank into a verdict as the datapath does.
func verdictOf(t *classifier.Tables, rank int, p *model.Packet) model.Verdict {
	switch {
	case p.Malformed:
		return model.Verdict{Action: rules.Drop, Reason: model.ReasonMalformed}
	case rank >= 0:
		return model.Verdict{Action: t.Order[rank].Action, Reason: model.ReasonRule, RuleID: t.Order[rank].ID}
	case p.Kind == model.KindARP || p.ND:
		return model.Verdict{Action: rules.Pass, Reason: model.ReasonNeighbor}
	}
	return model.Verdict{Action: t.Policy, Reason: model.ReasonDefault}
}
