package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// TestLocalPrefixes: --local reads prefixes as rules and blocklists do.
// A host address with a length (192.0.2.10/1 for /32) was masked to the
// prefix, silently: every frame from half the Internet went out, learnt
// by the egress program, and the replay's verdicts said nothing of the
// ruleset. An empty value, a zone or an IPv4-mapped address meant no
// local address at all, as silently.
func TestLocalPrefixes(t *testing.T) {
	got, err := localPrefixes([]string{"192.0.2.10, 2001:db8::/32", "198.51.100.0/24"})
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("198.51.100.0/24")}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("localPrefixes: %v, %v; want %v", got, err, want)
	}
	for in, msg := range map[string]string{
		"192.0.2.10/1":      "host bits set",
		"fe80::1%eth0":      "zone",
		"10.0.0.0/08":       "leading zero",
		"::ffff:192.0.2.10": "IPv4-mapped",
		"":                  "empty",
		"192.0.2.10,":       "empty",
		"bogus":             `--local "bogus"`,
	} {
		got, err := localPrefixes([]string{in})
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.HasPrefix(err.Error(), "--local ") {
			t.Errorf("--local %q: %v, %v; want it refused (%s)", in, got, err, msg)
		}
	}
}
