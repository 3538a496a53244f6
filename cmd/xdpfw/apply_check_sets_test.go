package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// setsFile is a ruleset file of n IPv4 sets named prefix0.., one element
// each, and a rule on the first.
func setsFile(prefix string, n int) string {
	var b strings.Builder
	b.WriteString("sets:\n")
	for i := range n {
		fmt.Fprintf(&b, "  %s%d: {family: ipv4, elements: [10.%d.%d.0/24]}\n", prefix, i, i/256, i%256)
	}
	fmt.Fprintf(&b, "rules:\n  - {src: \"@%s0\", action: drop}\npolicy: pass\n", prefix)
	return b.String()
}

// TestApplyCheckSetSlots: apply --check runs the set checks apply runs
// against the live state before writing anything: a file whose new sets
// do not fit beside the live ones, or that gives a live set another
// family, is refused by the check as by the apply, in the same words; and
// a file that fits passes both.
func TestApplyCheckSetSlots(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })
	mustRunCLI(t, pin, setsFile("a", 200), "apply", "-f", "-")
	const slots = "this apply needs 100 set slots while the live 200 stay until the switch: at most 256 in all"
	refused(t, pin, setsFile("b", 100), slots, "apply", "--check", "-f", "-")
	refused(t, pin, setsFile("b", 100), slots, "apply", "-f", "-")
	const family = "set a0 is ipv4, the ruleset makes it inet: a set keeps its family under its name, and it is used by live rule 1: give the set another name"
	other := strings.Replace(setsFile("a", 1), "family: ipv4", "family: inet", 1)
	refused(t, pin, other, family, "apply", "--check", "-f", "-")
	refused(t, pin, other, family, "apply", "-f", "-")
	mustRunCLI(t, pin, setsFile("b", 56), "apply", "--check", "-f", "-")
}
