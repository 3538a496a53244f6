package replay

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestRunConntrackFromCapture: with no --local, a pcapng capture's own
// direction flags say which frames go out, and its timestamps are the
// clock: an answer within 30 s of an unanswered request is established,
// one after is new again, and the datapath and the model agree.
func TestRunConntrackFromCapture(t *testing.T) {
	privtest.Require(t)
	rs := rulesets(t)["hostfw.yaml"]
	inst := mustInstance(t, rs)
	out := fixtures.Peer{Src: "192.0.2.10", Dst: "198.51.100.1"}
	in := out.Reverse()
	const outbound, inbound = 2, 1 // epb_flags direction
	sec := uint64(time.Second / time.Microsecond)
	steps := []struct {
		frame    []byte
		flags    uint32
		at       uint64 // µs
		out      bool
		verdict  string
		ct       string
		describe string
	}{
		{out.UDP(40000, 53), outbound, 1000 * sec, true, "", "", "query out"},
		{in.UDP(53, 40000), inbound, 1001 * sec, false, "pass", "established", "its answer"},
		{out.UDP(40001, 123), outbound, 1002 * sec, true, "", "", "request out"},
		{in.UDP(123, 40001), 0, 1033 * sec, false, "drop", "new", "its answer 31 s later"},
		{in.TCP(443, 40002, "SA"), inbound, 1033 * sec, false, "drop", "invalid", "SYN-ACK of no SYN"},
	}
	var ng bytes.Buffer
	ng.Write(ngSHB())
	ng.Write(ngIDB(1, "eth0"))
	for _, s := range steps {
		ng.Write(ngEPBAt(0, s.frame, len(s.frame), s.flags, s.at))
	}
	path := filepath.Join(t.TempDir(), "host.pcapng")
	if err := os.WriteFile(path, ng.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(inst, rs, []string{path}, Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Frames) != len(steps) || rep.Learned != 2 || rep.Mismatches != 0 {
		t.Fatalf("%d frames, %d learned, %d mismatches: %+v", len(rep.Frames), rep.Learned, rep.Mismatches, rep.Frames)
	}
	for i, s := range steps {
		f := rep.Frames[i]
		if f.Out != s.out || f.Verdict != s.verdict || f.CT != s.ct {
			t.Errorf("%s: %+v, want out %v verdict %q ct %q", s.describe, f, s.out, s.verdict, s.ct)
		}
	}
}
