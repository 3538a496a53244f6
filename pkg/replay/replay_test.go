package replay

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
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
		rs, err := rules.ParseFile(f)
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
			tr, err := loader.NewTester(rs, true)
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
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		pcap    string
		rs      *rules.Ruleset
		want    map[string]int // verdict and reason counts
		skipped int
	}{
		// 23 malformed frames (one a runt that never reaches XDP) and 11
		// valid controls: padding, IPv4 options, headers ending exactly at
		// the end, ICMP of the other family, protocol 253.
		{"malformed.pcap", drop, map[string]int{"malformed": 22, "default": 11}, 1},
		// Triple tags and tags cut short are malformed; the rest are
		// classified through one or two tags (tagged ARP included).
		{"vlan.pcap", drop, map[string]int{"malformed": 5, "neighbor": 1, "default": 12}, 0},
		// A chain of 9 headers, three overruns and a header under 8 bytes.
		{"ipv6-ext.pcap", drop, map[string]int{"malformed": 5, "default": 17}, 0},
		// ARP and ND pass even under a drop policy; echo, 132, 138, IPv4
		// type 135, LLDP and IPX do not.
		{"neighbor.pcap", drop, map[string]int{"neighbor": 7, "default": 7}, 0},
		// Non-first fragments have no ports: the port rules never match
		// them, however their payload looks, but "proto udp" does.
		{"fragments.pcap", ports, map[string]int{"malformed": 0}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.pcap, func(t *testing.T) {
			tr, err := loader.NewTester(tc.rs, true)
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
			if tc.rs == ports {
				checkFragments(t, rep)
			}
		})
	}
}

// checkFragments: no non-first fragment may be decided by a port rule.
func checkFragments(t *testing.T, rep *Report) {
	frames, err := ReadFrames(filepath.Join(pcapDir, "fragments.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	nonFirst := 0
	for i, f := range rep.Frames {
		p := rules.Decode(frames[i].Data)
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
