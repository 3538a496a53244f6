package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

const testRuleset = `policy: drop
rules:
  - {proto: tcp, dport: 22, src: 10.0.0.0/8, action: pass, comment: ssh from the office}
  - {proto: udp, dport: 53, action: pass}
  - {icmp-type: echo-request, action: pass}
  - {vlan: 100, action: pass}
  - {ct-state: established, dport: 8080, action: pass}
`

// TestPacketTest: test runs the packet its flags describe through the
// program and the model, under a ruleset file or the live ruleset, and
// prints the packet and the rule that decides it (or the policy);
// --expect sets the exit status; a packet that is none (a prefix, a
// range) is refused in one line.
func TestPacketTest(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, []byte(testRuleset), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string // the verdict line
	}{
		{[]string{"--src", "10.1.2.3", "--proto", "tcp", "--dport", "22"}, "pass: rule 1 (src 10.0.0.0/8 proto tcp dport 22) # ssh from the office, ct new\n"},
		{[]string{"--src", "203.0.113.5", "--dport", "22"}, "drop: the default policy, ct new\n"},
		{[]string{"--proto", "udp", "--dport", "53"}, "pass: rule 2 (proto udp dport 53), ct new\n"},
		{[]string{"--icmp-type", "echo-request"}, "pass: rule 3 (proto icmp icmp-type echo-request), ct new\n"},
		{[]string{"--family", "ipv6", "--vlan", "100"}, "pass: rule 4 (vlan 100), ct new\n"},
		{[]string{"--iface", "lo", "--vlan", "100"}, "pass: rule 4 (vlan 100), ct new\n"},
		// A jumbo frame runs through the multi-buffer program.
		{[]string{"--proto", "udp", "--dport", "53", "--length", "9000"}, "pass: rule 2 (proto udp dport 53), ct new\n"},
		// The first of its flow: a SYN new, an ACK invalid.
		{[]string{"--dport", "8080", "--tcp-flags", "ack"}, "drop: the default policy, ct invalid\n"},
		{[]string{"--dport", "8080"}, "drop: the default policy, ct new\n"},
	} {
		out := mustRunCLI(t, "/nonexistent/xdpfw", "", append([]string{"test", "--rules", file}, c.args...)...)
		if lines := strings.SplitAfter(out, "\n"); len(lines) != 3 || lines[1] != c.want {
			t.Errorf("test %v printed %q, want its second line %q", c.args, out, c.want)
		}
	}
	if _, err := runCLI(t, "/nonexistent/xdpfw", "", "test", "--rules", file, "--src", "203.0.113.5", "--dport", "22", "--expect", "pass"); err == nil || err.Error() != "test: the verdict is drop, not pass" {
		t.Errorf("--expect pass of a dropped packet: %v", err)
	}
	mustRunCLI(t, "/nonexistent/xdpfw", "", "test", "--rules", file, "--src", "10.9.9.9", "--dport", "22", "--expect", "PASS")
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"--src", "10.0.0.0/8"}, "test: --src 10.0.0.0/8 is a prefix: a packet has one address"},
		{[]string{"--dport", "1-5"}, "test: --dport 1-5 is a range: a packet has one value"},
		{[]string{"--dport", "x"}, "--dport: "},
		{[]string{"--expect", "maybe"}, `test: --expect "maybe": want pass or drop`},
		{[]string{"eth0"}, `test: unexpected argument "eth0"`},
	} {
		stdout, _, err := runCLIBoth("/nonexistent/xdpfw", "", append([]string{"test", "--rules", file}, c.args...)...)
		if err == nil || !strings.HasPrefix(err.Error(), c.err) || stdout != "" {
			t.Errorf("test %v: error %v, stdout %q; want one line starting %q", c.args, err, stdout, c.err)
		}
	}

	// The live ruleset, as JSON.
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, testRuleset, "apply", "-f", "-")
	var got testResult
	out := mustRunCLI(t, pin, "", "test", "--json", "--src", "10.1.2.3", "--dport", "22")
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("test --json: %v\n%s", err, out)
	}
	want := testResult{Packet: "tcp 10.1.2.3:49152 > 198.51.100.1:22 flags [syn] dscp 0 ttl 64 length 54", Verdict: "pass", Reason: "rule", Rule: 1,
		Match: "src 10.0.0.0/8 proto tcp dport 22", Comment: "ssh from the office", CT: "new"}
	if got != want {
		t.Errorf("test --json of the live ruleset: %+v, want %+v", got, want)
	}
	if rl := mustRunCLI(t, pin, "", "rule", "list", "--json"); strings.Contains(rl, `"packets": 1`) {
		t.Errorf("test counted in the live counters:\n%s", rl)
	}
}
