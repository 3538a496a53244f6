package replay

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

const (
	pcapDir    = "../../testdata/pcaps"
	rulesetDir = "../../testdata/rulesets"
)

func rulesets(t *testing.T) map[string]*rules.Ruleset {
	t.Helper()
	out := map[string]*rules.Ruleset{
		"empty-pass": {Policy: rules.Pass},
		"empty-drop": {Policy: rules.Drop},
	}
	files, err := filepath.Glob(filepath.Join(rulesetDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rulesets in %s: %v", rulesetDir, err)
	}
	for _, f := range files {
		rs, err := rules.ParseFile(f, rules.FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = rs
	}
	return out
}

// TestReplayAgreesWithModel runs every committed capture under every test
// ruleset through the real program and requires the reference model to
// give the same verdict and rule id for every frame.
func TestReplayAgreesWithModel(t *testing.T) {
	privtest.Require(t)
	pcaps, err := filepath.Glob(filepath.Join(pcapDir, "*.pcap"))
	if err != nil || len(pcaps) < 7 {
		t.Fatalf("want the committed fixtures in %s, found %d (%v)", pcapDir, len(pcaps), err)
	}
	for name, rs := range rulesets(t) {
		t.Run(name, func(t *testing.T) {
			tr, err := loader.NewInstance(rs, true)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			rep, err := Run(tr, rs, pcaps, Options{Verify: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range rep.Frames {
				if f.Mismatch != "" {
					t.Errorf("%s frame %d: datapath %s (%s, rule %d), %s", f.File, f.Index, f.Verdict, f.Reason, f.RuleID, f.Mismatch)
				}
			}
			ran := len(rep.Frames) - rep.Skipped
			if ran < 4000 {
				t.Errorf("only %d frames ran", ran)
			}
			// The program's own counters agree with the per-frame verdicts.
			vc, err := tr.VerdictCounters()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{"pass", "drop", "default", "malformed", "neighbor"} {
				if int(vc[v].Packets) != rep.Verdicts[v] {
					t.Errorf("counter %s = %d, frames with that verdict = %d", v, vc[v].Packets, rep.Verdicts[v])
				}
			}
			rc, err := tr.RuleCounters()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rep.Rules {
				if int(rc[r.ID].Packets) != r.Frames || int(rc[r.ID].Bytes) != r.Bytes {
					t.Errorf("rule %d counters %+v, replay counted %d frames %d bytes", r.ID, rc[r.ID], r.Frames, r.Bytes)
				}
			}
		})
	}
}

// TestFixtureClasses pins down, with counts written by hand from what each
// fixture holds (internal/fixtures), how the awkward classes are treated.
func TestFixtureClasses(t *testing.T) {
	privtest.Require(t)
	drop := &rules.Ruleset{Policy: rules.Drop}
	ports, err := rules.ParseYAML("ports.yaml", []byte(`policy: pass
rules:
  - {proto: udp, dport: 53, action: drop}
  - {proto: tcp, dport: 443, action: drop}
  - {proto: udp, action: pass}
`), rules.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fields := mustParse(t, `policy: pass
rules:
  - {tcp-flags: "syn,!ack", action: drop}                  # 1
  - {tcp-flags: rst, action: drop}                         # 2
  - {icmp-type: echo-request, action: drop}                # 3
  - {icmpv6-type: echo-request, icmpv6-code: 0, action: drop} # 4
  - {dscp: ef, action: drop}                               # 5
  - {ttl: 0-1, action: drop}                               # 6
  - {length: 1500-65535, action: drop}                     # 7
  - {vlan: 100, inner-vlan: 200, action: drop}             # 8
  - {vlan: 4095, action: drop}                             # 9
  - {vlan: 0, action: drop}                                # 10
  - {fragment: non-first, action: drop}                    # 11
  - {fragment: first, family: ipv6, action: drop}          # 12
`)
	icmpErr := mustParse(t, `policy: pass
rules:
  - {icmp-type: destination-unreachable, action: drop}     # 1
  - {proto: udp, dport: 33434, action: drop}               # 2: only in quoted headers
  - {icmpv6-type: time-exceeded, action: drop}             # 3
  - {icmp-type: redirect, icmp-code: 1, action: drop}      # 4
`)
	jumbo := mustParse(t, `policy: pass
rules:
  - {proto: tcp, dport: 22, action: drop}                  # 1
  - {proto: udp, length: 9000-65535, action: drop}         # 2
`)
	cases := []struct {
		pcap    string
		rs      *rules.Ruleset
		want    map[string]int // verdict and reason counts
		skipped int
		perRule map[uint32]int // frames decided by each rule, when given
	}{
		// 56 frames, one per value of a richer match (internal/fixtures
		// fields.go): SYN (no ACK) and RST in both families, echo requests
		// of any code but ICMPv6 code 0 only, DSCP 46 and TTL 0/1 in both
		// families, 1500 and 1514 bytes, QinQ 100/200 but not 200/100,
		// VLAN 4095 and 0, later fragments of both families, and the IPv6
		// first fragment but not the atomic one.
		{"match-fields.pcap", fields, map[string]int{"drop": 21, "default": 35}, 0,
			map[uint32]int{1: 2, 2: 2, 3: 2, 4: 1, 5: 2, 6: 4, 7: 2, 8: 1, 9: 1, 10: 1, 11: 2, 12: 1}},
		// Errors are classified on their own type and code; the UDP port
		// of the packet they quote is never read.
		{"icmp-errors.pcap", icmpErr, map[string]int{"drop": 4, "default": 5}, 0,
			map[uint32]int{1: 2, 2: 0, 3: 1, 4: 1}},
		// Multi-buffer frames are parsed and counted whole; one claims
		// more bytes than it has.
		{"jumbo.pcap", jumbo, map[string]int{"drop": 4, "malformed": 1, "default": 1}, 0,
			map[uint32]int{1: 2, 2: 1}},
		// 23 malformed frames (one a runt that never reaches XDP) and 11
		// valid controls: padding, IPv4 options, headers ending exactly at
		// the end, ICMP of the other family, protocol 253.
		{"malformed.pcap", drop, map[string]int{"malformed": 22, "default": 11}, 1, nil},
		// Triple tags and tags cut short are malformed; the rest are
		// classified through one or two tags (tagged ARP included).
		{"vlan.pcap", drop, map[string]int{"malformed": 5, "neighbor": 1, "default": 12}, 0, nil},
		// A chain of 9 headers, three overruns and a header under 8 bytes.
		{"ipv6-ext.pcap", drop, map[string]int{"malformed": 5, "default": 17}, 0, nil},
		// ARP and ND pass even under a drop policy; echo, 132, 138, IPv4
		// type 135, LLDP and IPX do not.
		{"neighbor.pcap", drop, map[string]int{"neighbor": 7, "default": 7}, 0, nil},
		// Non-first fragments have no ports: the port rules never match
		// them, however their payload looks, but "proto udp" does.
		{"fragments.pcap", ports, map[string]int{"malformed": 0}, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.pcap, func(t *testing.T) {
			tr, err := loader.NewInstance(tc.rs, true)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			rep, err := Run(tr, tc.rs, []string{filepath.Join(pcapDir, tc.pcap)}, Options{Verify: true})
			if err != nil {
				t.Fatal(err)
			}
			for k, n := range tc.want {
				if rep.Verdicts[k] != n {
					t.Errorf("%s: %d frames, want %d (all: %v)", k, rep.Verdicts[k], n, rep.Verdicts)
				}
			}
			if rep.Skipped != tc.skipped {
				t.Errorf("skipped %d, want %d", rep.Skipped, tc.skipped)
			}
			if rep.Mismatches != 0 {
				t.Errorf("%d mismatches with the reference model", rep.Mismatches)
			}
			for _, r := range rep.Rules {
				if n, ok := tc.perRule[r.ID]; ok && n != r.Frames {
					t.Errorf("rule %d (%s) decided %d frames, want %d", r.ID, r.Match, r.Frames, n)
				}
			}
			if tc.rs == ports {
				checkFragments(t, rep)
			}
		})
	}
}

func mustParse(t *testing.T, yaml string) *rules.Ruleset {
	t.Helper()
	rs, err := rules.ParseYAML("test.yaml", []byte(yaml), rules.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// checkFragments: no non-first fragment may be decided by a port rule.
func checkFragments(t *testing.T, rep *Report) {
	frames, err := ReadFrames(filepath.Join(pcapDir, "fragments.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	nonFirst := 0
	for i, f := range rep.Frames {
		p := model.Decode(frames[i].Data)
		if p.HasPorts || !p.HasProto {
			continue
		}
		nonFirst++
		if f.RuleID == 1 || f.RuleID == 2 {
			t.Errorf("frame %d (no L4 header) matched port rule %d", f.Index, f.RuleID)
		}
		if want := p.Proto == 17; want != (f.RuleID == 3) {
			t.Errorf("frame %d: proto %d, rule %d: %s", f.Index, p.Proto, f.RuleID, fmt.Sprint(f))
		}
	}
	if nonFirst == 0 {
		t.Error("fragments.pcap has no frame without ports")
	}
}

// TestArrivalUnknownInterface: --iface naming no interface says so and
// what lists them, not net's "route ip+net: no such network interface".
func TestArrivalUnknownInterface(t *testing.T) {
	_, _, err := arrival("replay", "xdpfw-nosuch0")
	want := "replay: --iface xdpfw-nosuch0: no such interface in this network namespace (ip link lists them)"
	if err == nil || err.Error() != want {
		t.Errorf("arrival of an unknown interface: %v, want %s", err, want)
	}
}

// TestReplaySummaryHoldsNotRun: a summary keeps a result only for the
// frames it lists (those not run), however many frames ran, and still
// counts them all: every frame's result held made a summary of a large
// capture take ten times its size in memory.
func TestReplaySummaryHoldsNotRun(t *testing.T) {
	privtest.Require(t)
	const ran = 20000
	frames := make([][]byte, 0, ran+2)
	for i := range ran {
		frames = append(frames, fixtures.UDP("192.0.2.1", "192.0.2.2", uint16(1024+i%60000), 53))
		if i == 5 || i == 15000 {
			frames = append(frames, make([]byte, 10)) // a runt: skipped
		}
	}
	path := filepath.Join(t.TempDir(), "many.pcap")
	if err := WriteFrames(path, frames); err != nil {
		t.Fatal(err)
	}
	rs := &rules.Ruleset{Policy: rules.Pass}
	tr, err := loader.NewInstance(rs, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rep, err := Run(tr, rs, []string{path}, Options{Summary: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != len(frames) || rep.Skipped != 2 || rep.Verdicts["pass"] != ran {
		t.Errorf("summary counted %d frames, %d skipped, %d passed; want %d, 2, %d", rep.Total, rep.Skipped, rep.Verdicts["pass"], len(frames), ran)
	}
	if len(rep.Frames) != 2 || rep.Frames[0].Index != 7 || rep.Frames[1].Index != 15003 {
		t.Errorf("summary held %d results, want the 2 skipped (frames 7 and 15003)", len(rep.Frames))
	}
}

// TestReplayVerdictsAllCounted: --json's verdicts name every verdict and
// reason, 0 where no frame had it: a gate reading verdicts.drop of a
// replay where nothing dropped found null, not 0.
func TestReplayVerdictsAllCounted(t *testing.T) {
	privtest.Require(t)
	path := filepath.Join(t.TempDir(), "one.pcap")
	if err := WriteFrames(path, [][]byte{fixtures.UDP("192.0.2.1", "192.0.2.2", 1024, 53)}); err != nil {
		t.Fatal(err)
	}
	rs := &rules.Ruleset{Policy: rules.Pass}
	tr, err := loader.NewInstance(rs, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rep, err := Run(tr, rs, []string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep.Verdicts)
	if want := `{"default":1,"drop":0,"malformed":0,"neighbor":0,"pass":1,"rule":0}`; err != nil || string(b) != want {
		t.Errorf("verdicts %s (%v), want %s", b, err, want)
	}
}
