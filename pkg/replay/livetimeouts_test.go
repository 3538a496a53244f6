package replay

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestReplayLiveTimeouts: a replay against the live ruleset (no --rules)
// times flows by the live ruleset's conntrack: timeouts, as the host's
// datapath and the model do: an answer 45 s after a request, under a
// udp timeout of 60 s, is established. The instance timed them by the
// defaults (30 s), so it said new and the model disagreed.
func TestReplayLiveTimeouts(t *testing.T) {
	privtest.Require(t)
	rs, err := rules.ParseYAML("live.yaml", []byte("policy: drop\nconntrack: {timeouts: {udp: 60s}}\nrules:\n  - {ct-state: \"established,related\", action: pass}\n"), rules.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := loader.OpenOrCreate(privtest.PinDir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Apply(rs); err != nil {
		t.Fatal(err)
	}
	live, err := s.RulesetWithSets()
	if err != nil {
		t.Fatal(err)
	}
	inst, err := s.NewInstance(true)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	out := fixtures.Peer{Src: "192.0.2.10", Dst: "198.51.100.1"}
	in := out.Reverse()
	sec := uint64(time.Second / time.Microsecond)
	var ng bytes.Buffer
	ng.Write(ngSHB())
	ng.Write(ngIDB(1, "eth0"))
	query, answer := out.UDP(40000, 53), in.UDP(53, 40000)
	ng.Write(ngEPBAt(0, query, len(query), 2, 1000*sec))
	ng.Write(ngEPBAt(0, answer, len(answer), 1, 1045*sec))
	path := filepath.Join(t.TempDir(), "live.pcapng")
	if err := os.WriteFile(path, ng.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(inst, live, []string{path}, Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Frames) != 2 || rep.Mismatches != 0 || rep.Frames[1].Verdict != "pass" || rep.Frames[1].CT != "established" {
		t.Errorf("%d mismatches; the answer 45 s later: %+v, want pass, established (udp timeout 60 s)", rep.Mismatches, rep.Frames)
	}
}
