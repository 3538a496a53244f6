package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestCaptureRuleReplaced: `capture --rule 1` of drops ends once rule
// replace gives rule 1 the action pass (it keeps its id), failing saying
// so, its capture stopped, as the capture's start refuses such a rule:
// it went on for good, copying nothing. A capture of --verdict all goes
// on: it copies the rule's passes.
func TestCaptureRuleReplaced(t *testing.T) {
	pin, _ := withLiveRuleset(t) // rule 1 drops, rule 2 passes
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rule", "1"}, "capture: rule 1 passes the frames it decides now (it was replaced), and only drops are selected: nothing more would be copied"},
		{[]string{"--rule", "1", "--verdict", "all"}, ""},
	} {
		mustRunCLI(t, pin, "", "rule", "replace", "1", "--src", "@bl", "--action", "drop")
		var stderr bytes.Buffer
		cmd := startCLI(t, pin, &stderr, append([]string{"capture"}, c.args...)...)
		waitCapturing(t, pin, cmd.Process.Pid)
		mustRunCLI(t, pin, "", "rule", "replace", "1", "--src", "@bl", "--action", "pass")
		if c.want == "" {
			// --verdict all copies passes too: the capture goes on,
			// past its next look at its rules (every second).
			time.Sleep(2 * time.Second)
			checkCaptureRing(t, pin, true)
			mustRunCLI(t, pin, "", "capture", "--stop")
			waitExit(t, cmd, func() { cmd.Process.Kill() })
			continue
		}
		err := waitExit(t, cmd, func() { cmd.Process.Kill() })
		if err == nil || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("capture %v once rule 1 passes: %v, stderr %q; want a failure saying %q", c.args, err, stderr.String(), c.want)
		}
		checkCaptureRing(t, pin, false)
	}
}
