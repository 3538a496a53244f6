package rules

import (
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// TestConntrackMaxFlows: max-flows is read within its bounds, the
// default's size said out loud is kept where nothing reads connection
// state (without it the table is idle) and is the default where
// something does, it is written back, and bad values are refused with
// the reason.
func TestConntrackMaxFlows(t *testing.T) {
	parse := func(sec string) (*Ruleset, error) {
		return ParseYAML("ct.yaml", []byte("policy: pass\nconntrack:\n"+sec+"rules: []\n"), FileOptions{})
	}
	for _, c := range []struct {
		sec  string
		want uint32
	}{
		{"  max-flows: 65536\n", 65536},
		{"  max-flows: 1024\n", MinCTFlows},
		{"  max-flows: 16777216\n", MaxCTFlows},
		{"  max-flows: 262144\n", 262144},
		{"  max-flows: 4096\n  timeouts: {udp: 30s}\n", 4096},
	} {
		rs, err := parse(c.sec)
		if err != nil {
			t.Errorf("%q: %v", c.sec, err)
			continue
		}
		if rs.Conntrack.MaxFlows != c.want {
			t.Errorf("%q: max-flows %d, want %d", c.sec, rs.Conntrack.MaxFlows, c.want)
		}
		back, err := ParseYAML("back.yaml", FormatYAML(rs), FileOptions{})
		if err != nil || back.Conntrack != rs.Conntrack {
			t.Errorf("%q: written as\n%s\nread back %+v (%v)", c.sec, FormatYAML(rs), back, err)
		}
	}
	for _, c := range []struct {
		file  string
		want  uint32
		flows uint32
	}{
		{"policy: pass\nconntrack: {max-flows: 262144}\nrules: []\n", 262144, 262144},
		{"policy: drop\nconntrack: {max-flows: 262144}\nrules: []\n", 0, 262144},
		{"policy: pass\nconntrack: {max-flows: 262144}\nrules: [{ct-state: new, action: drop}]\n", 0, 262144},
		{"policy: pass\nrules: []\n", 0, layout.CtIdleEntries},
	} {
		rs, err := ParseYAML("ct.yaml", []byte(c.file), FileOptions{})
		if err != nil {
			t.Errorf("%q: %v", c.file, err)
			continue
		}
		if rs.Conntrack.MaxFlows != c.want || rs.CTFlows() != c.flows {
			t.Errorf("%q: max-flows %d, a table of %d flows (%v); want %d, %d", c.file, rs.Conntrack.MaxFlows, rs.CTFlows(), err, c.want, c.flows)
		}
	}
	for _, sec := range []string{"  max-flows: 1023\n", "  max-flows: 16777217\n", "  max-flows: 64k\n", "  max-flows: -5\n", "  max-flows: [1]\n", "  max-flow: 4096\n"} {
		if _, err := parse(sec); err == nil {
			t.Errorf("%q was accepted", sec)
		} else if !strings.Contains(err.Error(), "max-flow") {
			t.Errorf("%q: error %q does not name max-flows", sec, err)
		}
	}
	if got := (Conntrack{}).Flows(); got != 262144 {
		t.Errorf("the default table holds %d flows", got)
	}
}
