package replay

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestVerifyFullTable: past max-flows the kernel's LRU map evicts in
// another order than the model's exact one (documented: they agree only
// below capacity), so --verify's disagreements then are no bug; the
// report says how many came once the model's table had evicted, so the
// CLI does not ask for a bug report on them.
func TestVerifyFullTable(t *testing.T) {
	privtest.Require(t)
	rs, err := rules.ParseYAML("small.yaml", []byte(`policy: drop
conntrack: {max-flows: 1024}
rules:
  - {ct-state: "established,related", action: pass}
`), rules.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := fixtures.Peer{Src: "192.0.2.10", Dst: "198.51.100.1"}
	in := out.Reverse()
	const flows = 1100 // past the table's 1024
	var frames [][]byte
	for i := range flows {
		frames = append(frames, out.UDP(uint16(1024+i), 53))
	}
	for i := range flows {
		frames = append(frames, in.UDP(53, uint16(1024+i)))
	}
	path := filepath.Join(t.TempDir(), "full.pcap")
	if err := WriteFrames(path, frames); err != nil {
		t.Fatal(err)
	}
	local := []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")}
	rep, err := Run(mustInstance(t, rs), rs, []string{path}, Options{Verify: true, Summary: true, Local: local})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mismatches == 0 {
		t.Skip("the datapath evicted as the model did: nothing to attribute")
	}
	if rep.FullTable != rep.Mismatches {
		t.Errorf("%d mismatches, %d of them counted after the table filled; want all", rep.Mismatches, rep.FullTable)
	}
	pass := &rules.Ruleset{Policy: rules.Pass}
	drep, err := Diff(Side{"old.yaml", mustInstance(t, pass), pass}, Side{"new.yaml", mustInstance(t, rs), rs}, []string{path}, Options{Verify: true, Local: local})
	if err != nil {
		t.Fatal(err)
	}
	if drep.Mismatches == 0 || drep.FullTable != drep.Mismatches {
		t.Errorf("diff: %d mismatches, %d of them counted after the table filled; want all", drep.Mismatches, drep.FullTable)
	}
}
