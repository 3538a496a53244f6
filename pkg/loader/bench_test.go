package loader_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/bench/workload"
	"github.com/xdpfw/xdpfw/internal/classifytest"
	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/classifier"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/perf"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// The per-packet benchmarks run every frame of a many-flow capture through
// BPF_PROG_TEST_RUN once per pass, in order, and report the program's
// run time from the kernel's BPF statistics (what `bpftool prog` shows)
// as ns/pkt, beside an empty XDP program measured the same way in the same
// run. Compare ratios, not absolute figures.
//
// Why not a repeat count per frame: with repeat > 1 the kernel retargets
// the XDP dispatcher around the run, a fixed ~17 ms per call here, and
// repeating one frame back to back would flatter the caches anyway.

// traffic is the many-flow mix xdpfw-bench measures (bench/workload),
// smaller: 1024 flows, 4096 frames.
var traffic = workload.NewTraffic(1024, 4096)

// runFrames reports the program's mean run time per packet over b.N
// passes through the frames.
func runFrames(b *testing.B, prog *ebpf.Program, frames [][]byte) {
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	before, err := prog.Stats()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for _, f := range frames {
			if _, err := prog.Run(&ebpf.RunOptions{Data: f}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	after, err := prog.Stats()
	if err != nil {
		b.Fatal(err)
	}
	runs := after.RunCount - before.RunCount
	if runs < uint64(b.N*len(frames)) {
		b.Fatalf("the kernel counted %d runs, want %d", runs, b.N*len(frames))
	}
	b.ReportMetric(float64((after.Runtime-before.Runtime).Nanoseconds())/float64(runs), "ns/pkt")
}

// wordsPerPacket is the mean number of rule-vector words the classifier
// ANDs per frame (from classifytest.Classify, the Go mirror of the datapath): a count, not a
// time, so it shows whether the rule count changes the work.
func wordsPerPacket(b *testing.B, rs *rules.Ruleset, frames [][]byte) float64 {
	tables, err := classifier.Compile(rs)
	if err != nil {
		b.Fatal(err)
	}
	total := 0
	for _, f := range frames {
		p := model.Decode(f)
		_, words := classifytest.Classify(tables, rs.Sets, &p)
		total += words
	}
	return float64(total) / float64(len(frames))
}

func emptyProgram(b *testing.B) *ebpf.Program {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()},
	})
	if err != nil {
		b.Fatal(err)
	}
	return prog
}

// BenchmarkPerPacket prints the ns/pkt curve from 1 to 4096 rules with the
// empty program as the floor.
func BenchmarkPerPacket(b *testing.B) {
	privtest.Require(b)
	frames := traffic.Frames
	b.Run("empty-program", func(b *testing.B) {
		prog := emptyProgram(b)
		defer prog.Close()
		runFrames(b, prog, frames)
	})
	for _, n := range []int{1, 4, 16, 64, 256, 1024, 4096} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			rs := traffic.ScaleRuleset(n)
			t, err := loader.NewInstance(rs, false)
			if err != nil {
				b.Fatal(err)
			}
			defer t.Close()
			runFrames(b, t.Program(), frames)
			b.ReportMetric(wordsPerPacket(b, rs, frames), "words/pkt")
		})
	}
}

// BenchmarkRuleUpdate measures one rule add plus one rule delete (two
// complete commits) with n rules live.
func BenchmarkRuleUpdate(b *testing.B) {
	privtest.Require(b)
	for _, n := range []int{1, 4095} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			s, err := loader.OpenOrCreate(privtest.PinDir(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			defer s.DetachAll()
			if err := s.Replace(traffic.ScaleRuleset(n)); err != nil {
				b.Fatal(err)
			}
			r := rules.Rule{Priority: 1, Action: rules.Drop, Match: rules.Match{Src: netip.MustParsePrefix("10.9.8.0/24")}}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id, err := s.AddRule(r)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.DeleteRules([]uint32{id}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// plainUDPFrames are IPv4 UDP datagrams over 1024 flows (source address
// and ports vary): the simple traffic richer parsing must not tax.
func plainUDPFrames() [][]byte {
	out := make([][]byte, 1024)
	for i := range out {
		src := fmt.Sprintf("10.%d.%d.1", i>>8, i&0xff)
		out[i] = fixtures.UDP(src, "192.0.2.1", uint16(10000+i), uint16(53+i%8))
	}
	return out
}

// issue2Program loads the datapath as it was before the richer matches
// (the object committed under testdata) with an empty ruleset and policy
// pass: its maps start zeroed, so only the generation config is written.
func issue2Program(b *testing.B) (*ebpf.Collection, *ebpf.Program) {
	spec, err := ebpf.LoadCollectionSpec("testdata/xdpfw-issue2.o")
	if err != nil {
		b.Fatal(err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		b.Fatal(err)
	}
	conf := make([]byte, coll.Maps["gen_conf"].ValueSize()) // policy first
	conf[0] = 2                                             // XDP_PASS
	if err := coll.Maps["gen_conf"].Put(uint32(0), conf); err != nil {
		b.Fatal(err)
	}
	return coll, coll.Programs["xdpfw"]
}

// BenchmarkPlainUDP compares, in one run, plain IPv4 UDP through the
// datapath before the richer matches (issue-2) and now, both with an
// empty ruleset, and now with one rule that does not match, beside the
// empty program; then the same frames through the frags program, which
// interfaces with a jumbo MTU run. The programs take turns in each round
// (pkg/perf), each frame repeated 64 times per call; ns/pkt metrics are
// the medians.
func BenchmarkPlainUDP(b *testing.B) {
	privtest.Require(b)
	frames := plainUDPFrames()
	empty := emptyProgram(b)
	defer empty.Close()
	coll, old := issue2Program(b)
	defer coll.Close()
	subjects := []perf.Subject{{Name: "empty-program", Prog: empty}, {Name: "issue2-no-rules", Prog: old}}
	var frags perf.Subject
	for _, tc := range []struct {
		name string
		rs   *rules.Ruleset
	}{
		{"now-no-rules", &rules.Ruleset{Policy: rules.Pass}},
		{"now-1-rule", &rules.Ruleset{Policy: rules.Pass, Rules: []rules.Rule{{ID: 1, Action: rules.Drop,
			Match: rules.Match{Proto: rules.Proto{Set: true, Num: 17}, Dport: rules.PortRange{Set: true, Lo: 7, Hi: 7}}}}}},
	} {
		t, err := loader.NewInstance(tc.rs, false)
		if err != nil {
			b.Fatal(err)
		}
		defer t.Close()
		subjects = append(subjects, perf.Subject{Name: tc.name, Prog: t.Program()})
		if len(tc.rs.Rules) == 0 {
			jumbo := [][]byte{make([]byte, 9000)}
			frags = perf.Subject{Name: "now-frags-no-rules", Prog: t.ProgramFor(jumbo)}
		}
	}
	subjects = append(subjects, frags)
	var res []perf.Result
	for i := 0; i < b.N; i++ {
		var err error
		if res, err = perf.Measure(subjects, frames, perf.Options{Repeat: 64, Rounds: 5}); err != nil {
			b.Fatal(err)
		}
	}
	for _, r := range res {
		b.ReportMetric(r.Median, r.Name+"-ns/pkt")
	}
	b.ReportMetric(res[2].Median/res[1].Median, "now/issue2")
	b.ReportMetric(res[4].Median/res[1].Median, "frags/issue2")
}
