package loader

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/internal/rulegen"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestCorpusAgreesWithModel is the generated corpus: random rulesets over
// every condition, and for each the frames its own values and their edges
// make (rulegen.Edges) plus random ones, at least 100,000 frames in all.
// Every frame's verdict and rule id from the real program must be the
// reference model's.
func TestCorpusAgreesWithModel(t *testing.T) {
	privtest.Require(t)
	inst, err := NewInstance(&rules.Ruleset{Policy: rules.Pass}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()

	const minFrames = 100_000
	rng := rand.New(rand.NewPCG(3, 4))
	frames, rulesets, solo := 0, 0, 0
	for frames < minFrames {
		rs := rulegen.Ruleset(rng, 1+rng.IntN(400))
		if rulesets%2 == 1 {
			rs = oneDimension(t, rs) // the solo form (GF_SOLO)
		}
		if err := inst.Load(rs); err != nil {
			t.Fatal(err)
		}
		if liveSolo(t, inst) {
			solo++
		}
		rulesets++
		sorted := rules.Sorted(rs.Rules)
		usesCT := rules.HasCTState(sorted)
		specs := rulegen.Edges(rs)
		for i := 0; i < 500; i++ {
			specs = append(specs, rulegen.RandomFrame(rng))
		}
		for _, spec := range specs {
			frame := spec.Bytes()
			got, err := inst.Run(frame)
			if err != nil {
				t.Fatalf("frame %x: %v", frame, err)
			}
			p := model.Decode(frame)
			p.Iface = "lo" // where BPF_PROG_TEST_RUN puts frames
			// Nothing goes out of the instance: its table stays empty.
			if want, _ := model.EvaluateTracked(rs, sorted, usesCT, &p, frame, nil, 0); got != want {
				t.Fatalf("ruleset %d, frame %x (%+v):\ndatapath %v, reference model %v\nrules:\n%s",
					rulesets, frame, spec, got, want, rules.FormatYAML(rs))
			}
			frames++
		}
	}
	if solo == 0 {
		t.Error("no ruleset was in solo form")
	}
	t.Logf("%d frames over %d rulesets (%d in solo form) agree", frames, rulesets, solo)
}

// FuzzDatapath mutates frames and rulesets: the seed and size pick a
// random ruleset (for odd seeds, only its rules on one dimension), loaded into one program instance per fuzzing process,
// and the frame runs through it and the reference model, which must agree.
// `go test` runs the seeds (every fixture frame); CI also fuzzes for a
// bounded time (make fuzz).
func FuzzDatapath(f *testing.F) {
	for _, fx := range fixtures.All() {
		for i, frame := range fx.Frames {
			if i%7 == 0 { // a spread of every class, not the 4096 multiflow frames
				f.Add(uint64(i), uint8(len(frame)), frame)
			}
		}
	}
	var inst *Instance
	f.Cleanup(func() {
		if inst != nil {
			inst.Close()
		}
	})
	f.Fuzz(func(t *testing.T, seed uint64, size uint8, frame []byte) {
		privtest.Require(t)
		if len(frame) < 14 || len(frame) > 9000 {
			return // never reaches XDP / beyond what the fixtures use
		}
		if inst == nil {
			var err error
			if inst, err = NewInstance(&rules.Ruleset{Policy: rules.Pass}, true); err != nil {
				t.Fatal(err)
			}
		}
		rs := rulegen.Ruleset(rand.New(rand.NewPCG(seed, 5)), int(size%64)+1)
		if seed%2 == 1 {
			rs = oneDimension(t, rs) // the solo form (GF_SOLO)
		}
		if err := inst.Load(rs); err != nil {
			t.Fatal(err)
		}
		got, err := inst.Run(frame)
		if err != nil {
			t.Fatal(err)
		}
		p := model.Decode(frame)
		p.Iface = "lo"
		// Nothing goes out of this instance, so its table stays empty:
		// the model's is nil.
		sorted := rules.Sorted(rs.Rules)
		if want, _ := model.EvaluateTracked(rs, sorted, rules.HasCTState(sorted), &p, frame, nil, 0); want != got {
			writeRegression(t, frame)
			t.Fatalf("frame %x: datapath %v, reference model %v\nrules:\n%s", frame, got, want, rules.FormatYAML(rs))
		}
	})
}

// writeRegression leaves a failing frame where it can be turned into a
// fixture, besides the fuzz corpus entry Go writes itself.
func writeRegression(t *testing.T, frame []byte) {
	path := fmt.Sprintf("%s/xdpfw-fuzz-%x.bin", os.TempDir(), rand.Uint64())
	if err := os.WriteFile(path, frame, 0o644); err == nil {
		t.Logf("frame written to %s", path)
	}
}

// TestTruncationsAgreeWithModel cuts every fixture frame (but the bulk
// multiflow ones) at every length an XDP program can see: header bounds
// are where a parser and its model drift apart.
func TestTruncationsAgreeWithModel(t *testing.T) {
	privtest.Require(t)
	rs := mustRuleset(t, `policy: drop
rules:
  - {proto: tcp, dport: 22, action: pass}
  - {proto: udp, sport: 53, action: pass}
  - {proto: icmpv6, icmpv6-type: echo-request, action: pass}
  - {fragment: non-first, action: pass}
  - {vlan: 100, action: pass}
`)
	inst, err := NewInstance(rs, true)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	sorted := rules.Sorted(rs.Rules)
	runs := 0
	for _, fx := range fixtures.All() {
		if fx.Name == "multiflow" {
			continue
		}
		for i, frame := range fx.Frames {
			for n := 14; n <= len(frame); n++ {
				cut := frame[:n]
				got, err := inst.Run(cut)
				if err != nil {
					t.Fatalf("%s frame %d cut to %d: %v", fx.Name, i, n, err)
				}
				p := model.Decode(cut)
				p.Iface = "lo"
				if want := model.EvaluateDecoded(rs, sorted, &p); got != want {
					t.Fatalf("%s frame %d cut to %d bytes (%x): datapath %v, reference model %v (%s)", fx.Name, i, n, cut, got, want, p.Problem)
				}
				runs++
			}
		}
	}
	t.Logf("%d truncated frames agree", runs)
}
