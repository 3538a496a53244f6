package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// saveForms are rule add's argument lists, one rule each, between them
// every condition in each of its forms (names and numbers, ranges and
// single values, the 0 and top of each range, negated TCP flags, both
// families, sets), with comments YAML would misread unquoted and log.
var saveForms = [][]string{
	{"--priority", "0", "--src", "192.0.2.0/24", "--proto", "tcp", "--dport", "22", "--comment", `ssh: from #lab 'x' "y"`},
	{"--priority", "65535", "--dst", "2001:db8::/32", "--proto", "udp", "--sport", "1000-2000", "--dport", "0"},
	{"--priority", "010", "--dst", "198.51.100.7", "--sport", "65535"},
	{"--src", "@v4", "--dst", "@both", "--log"},
	{"--src", "@v6", "--dst", "2001:db8::1"},
	{"--dst", "@empty", "--comment", "   x  "},
	{"--family", "ipv6", "--fragment", "non-first"},
	{"--family", "ipv4", "--fragment", "none"},
	{"--fragment", "first"},
	{"--fragment", "any"},
	{"--tcp-flags", "syn,!ack"},
	{"--tcp-flags", "syn / syn,ack", "--dport", "80"},
	{"--tcp-flags", "fin,syn,rst,psh,ack,urg,ecn,cwr / fin,syn,rst,psh,ack,urg,ecn,cwr"},
	{"--tcp-flags", "!fin,!syn,!rst"},
	{"--tcp-flags", "rst"},
	{"--icmp-type", "echo-request", "--icmp-code", "0"},
	{"--icmp-type", "200"},
	{"--icmp-code", "255"},
	{"--icmpv6-type", "nd-neighbor-solicit"},
	{"--icmpv6-type", "1", "--icmpv6-code", "3"},
	{"--icmpv6-code", "0"},
	{"--vlan", "100", "--inner-vlan", "200"},
	{"--vlan", "untagged"},
	{"--vlan", "0"},
	{"--inner-vlan", "4095"},
	{"--dscp", "ef"},
	{"--dscp", "0"},
	{"--dscp", "af41", "--ttl", "0-5", "--length", "1000-65535"},
	{"--ttl", "0", "--length", "0"},
	{"--ttl", "255", "--length", "65535"},
	{"--iface", "lo"},
	{"--iface", "007"},
	{"--ct-state", "related,established"},
	{"--ct-state", "new,invalid"},
	{"--proto", "59"},
	{"--proto", "255", "--src", "0.0.0.0/0"},
	{"--proto", "icmpv6", "--dst", "::/0"},
	{"--comment", "null"},
	{"--comment", "yes"},
	{"--comment", "- 1e3"},
	{"--comment", "@v4"},
	{"--comment", "café ü 日本"},
	{},
}

// TestSaveApplyEveryForm: rule add of every rule form, sets of both
// families (hosts and prefixes, and an empty set), conntrack settings and
// a drop policy, saved and applied to a fresh pin directory, make the
// same live state there (the rules renumbered in evaluation order, all
// else alike), whose save is the same file; applied back to the first,
// the file changes nothing.
func TestSaveApplyEveryForm(t *testing.T) {
	privtest.Require(t)
	covered := map[string]bool{}
	for _, args := range saveForms {
		for _, a := range args {
			covered[strings.TrimPrefix(a, "--")] = true
		}
	}
	for _, c := range rules.Conditions {
		if !covered[c.Key] {
			t.Errorf("no form of %s in saveForms", c.Key)
		}
	}

	a, b := privtest.PinDir(t), privtest.PinDir(t)
	mustRunCLI(t, a, `sets:
  v4: {family: ipv4, elements: [192.0.2.1, 198.51.100.0/24, 10.0.0.0/8]}
  v6: {family: ipv6, elements: ["2001:db8::1", "2001:db8:1::/48"]}
  both: {elements: [192.0.2.7, "2001:db8::/32", "::ffff:1.2.3.4"]}
  empty: {elements: []}
conntrack:
  max-flows: 65536
  timeouts: {udp: 60s, tcp-established: 1d, tcp-syn-recv: 90s, fragment: 1s}
policy: pass
`, "apply", "-f", "-")
	for _, args := range saveForms {
		mustRunCLI(t, a, "", append([]string{"rule", "add", "--action", "drop"}, args...)...)
	}
	mustRunCLI(t, a, "", "policy", "drop")

	saved := mustRunCLI(t, a, "", "save")
	mustRunCLI(t, b, saved, "apply", "-f", "-")
	if again := mustRunCLI(t, b, "", "save"); again != saved {
		t.Errorf("save of the applied file differs:\n%s\nfrom the file:\n%s", again, saved)
	}
	for _, args := range [][]string{{"rule", "list", "--json"}, {"set", "list", "--json"}, {"set", "list", "both", "--json"}, {"ct", "stats", "--json"}} {
		got, want := liveJSON(t, b, args...), liveJSON(t, a, args...)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("xdpfw %s after the round trip:\n%v\nwant:\n%v", strings.Join(args, " "), got, want)
		}
	}
	if out := mustRunCLI(t, a, saved, "apply", "-f", "-"); !strings.HasPrefix(out, "unchanged") {
		t.Errorf("apply of save's output to its own state: %q", out)
	}
}

// liveJSON is a command's JSON output with what a round trip may change
// taken out: rule ids, and the rule ids a set is referenced by.
func liveJSON(t *testing.T, pin string, args ...string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(mustRunCLI(t, pin, "", args...)), &v); err != nil {
		t.Fatalf("xdpfw %s: %v", strings.Join(args, " "), err)
	}
	var strip func(v any)
	strip = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			delete(v, "id")
			delete(v, "referenced_by")
			for _, e := range v {
				strip(e)
			}
		case []any:
			for _, e := range v {
				strip(e)
			}
		}
	}
	strip(v)
	return v
}
