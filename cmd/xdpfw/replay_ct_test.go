package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/replay"
)

// TestReplayHostFirewall replays a host's capture under the host firewall
// of issue 14 with --verify: the host's own frames are learned, the
// replies to them (and an ICMP error about one) pass as established or
// related, unsolicited traffic drops, SSH gets in, and the datapath and
// the model agree on every verdict and state.
func TestReplayHostFirewall(t *testing.T) {
	privtest.Require(t)
	args := []string{"replay", "--verify", "--rules", "../../testdata/rulesets/hostfw.yaml",
		"--local", strings.Join(fixtures.HostFWLocal, ","), "../../testdata/pcaps/hostfw.pcap"}
	out, err := runApp(append(args, "--json")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rep replay.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	type want struct{ verdict, ct string }
	const learned = "out"
	wants := []want{
		{learned, ""}, {"pass", "established"}, {learned, ""}, {"pass", "established"},
		{learned, ""}, {"pass", "established"}, {learned, ""}, {"pass", "established"},
		{learned, ""}, {"pass", "related"}, {"pass", "untracked"},
		{"drop", "new"}, {"drop", "invalid"}, {"drop", "new"}, {"drop", "invalid"}, {"pass", "new"},
	}
	if len(rep.Frames) != len(wants) || rep.Mismatches != 0 || rep.Learned != 5 {
		t.Fatalf("%d frames (want %d), %d mismatches, %d learned (want 5):\n%s", len(rep.Frames), len(wants), rep.Mismatches, rep.Learned, out)
	}
	for i, f := range rep.Frames {
		w := wants[i]
		got := want{f.Verdict, f.CT}
		if f.Out {
			got = want{learned, f.CT}
		}
		if got != w || f.Mismatch != "" {
			t.Errorf("frame %d: %+v, want %s %s", i+1, f, w.verdict, w.ct)
		}
	}
	// The table: learned frames are rows of their own, and the CT column
	// shows the states.
	text, err := runApp(args...)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range [][]string{{"../../testdata/pcaps/hostfw.pcap", "1", "60", "out"}, {"../../testdata/pcaps/hostfw.pcap", "13"}} {
		if !hasRow(text, row...) {
			t.Errorf("no row %q:\n%s", row, text)
		}
	}
	for _, s := range []string{"out (learned by the egress program, no verdict): 5", "reference model: 11 of 11 frames agree", "related", "invalid"} {
		if !strings.Contains(text, s) {
			t.Errorf("output lacks %q:\n%s", s, text)
		}
	}
}
