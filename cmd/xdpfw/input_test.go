package main

import (
	"os"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestReplayRulesFromStdin: `replay --rules -` reads the ruleset from
// standard input, as apply -f - does, and gives what the file gives.
func TestReplayRulesFromStdin(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	const rules = "../../testdata/rulesets/lockdown.yaml"
	const pcap = "../../testdata/pcaps/basic.pcap"
	text, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	fromFile := mustRunCLI(t, pin, "", "replay", "--rules", rules, "--summary", pcap)
	fromStdin := mustRunCLI(t, pin, string(text), "replay", "--rules", "-", "--summary", pcap)
	if fromStdin != fromFile {
		t.Errorf("replay --rules - gave\n%s\nthe file gave\n%s", fromStdin, fromFile)
	}
	if _, err := runCLI(t, pin, "policy: sideways\n", "replay", "--rules", "-", pcap); err == nil {
		t.Error("replay --rules - took a bad ruleset")
	}
}
