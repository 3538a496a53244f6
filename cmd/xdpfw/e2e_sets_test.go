package main

import (
	"fmt"
	"math/rand"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// millionSet writes a blocklist of 1,000,000 entries, half /24 prefixes
// and half host addresses in 1.0.0.0-9.255.255.255 plus 2001:db8::/32
// prefixes, and extra lines the caller asks for.
func millionSet(t *testing.T, path string, extra ...string) {
	t.Helper()
	rng := rand.New(rand.NewSource(1))
	var b strings.Builder
	b.WriteString("# generated blocklist\n")
	seen := map[uint32]bool{}
	for n := 0; n < 1_000_000; {
		a := 1<<24 + rng.Uint32()%(9<<24)
		switch {
		case n%10 == 9:
			fmt.Fprintf(&b, "2001:db8:%x:%x::/64\n", a>>16, a&0xffff)
		case n%2 == 0:
			a &^= 0xff
			if seen[a] {
				continue
			}
			seen[a] = true
			fmt.Fprintf(&b, "%d.%d.%d.0/24 ; listed\n", a>>24, a>>16&0xff, a>>8&0xff)
		default:
			if seen[a&^0xff] {
				continue
			}
			fmt.Fprintf(&b, "%d.%d.%d.%d\n", a>>24, a>>16&0xff, a>>8&0xff, a&0xff)
		}
		n++
	}
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	writeFile(t, filepath.Dir(path), filepath.Base(path), b.String())
}

// TestEndToEndSets: a million-entry set loads through the CLI, a rule
// naming it drops live traffic from an address in it, and single
// elements come and go incrementally under live traffic. Bad input is
// refused with line numbers and changes nothing; save and apply
// round-trip the set.
func TestEndToEndSets(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	l := newLab(t)
	dir := t.TempDir()
	client := netip.PrefixFrom(l.clientV4, 32).String()
	big := filepath.Join(dir, "big.txt")
	millionSet(t, big, client)

	l.mustCLI("attach", serverIf, "--mode", "native")
	l.mustCLI("set", "create", "bl")
	out := l.mustCLI("set", "load", "--json", "bl", big)
	res := decodeJSON[struct {
		Set                                          string
		Added, Deleted, Unchanged, Elements, Skipped int
	}](t, "set load", out)
	if res.Elements < 999_000 || res.Added != res.Elements || res.Skipped != 0 {
		t.Fatalf("set load: %s", out)
	}
	l.mustCLI("rule", "add", "--src", "@bl", "--proto", "udp", "--dport", "5002", "--action", "drop")

	c4 := l.clientUDP(l.clientV4)
	open, blocked := l.serverUDP(l.serverV4, 5001), l.serverUDP(l.serverV4, 5002)
	dst := netip.AddrPortFrom(l.serverV4, 5002)
	if n := l.udpProbe(c4, open, netip.AddrPortFrom(l.serverV4, 5001), 3, true); n != 3 {
		t.Errorf("port 5001: %d of 3 arrived, want all (the rule is for 5002)", n)
	}
	if n := l.udpProbe(c4, blocked, dst, 3, false); n != 0 {
		t.Errorf("client in the set: %d datagrams to 5002 arrived, want none", n)
	}
	// One element out: the client's traffic passes; back in: dropped.
	if out := l.mustCLI("set", "del", "bl", client); !strings.Contains(out, "1 deleted") {
		t.Errorf("set del printed %q", out)
	}
	if n := l.udpProbe(c4, blocked, dst, 3, true); n != 3 {
		t.Errorf("client deleted from the set: %d of 3 arrived, want all", n)
	}
	// A covering prefix matches the client again.
	l.mustCLI("set", "add", "bl", netip.PrefixFrom(l.clientV4, 24).Masked().String())
	if n := l.udpProbe(c4, blocked, dst, 3, false); n != 0 {
		t.Errorf("client's /24 added: %d datagrams arrived, want none", n)
	}

	// Bad input: one line, nothing changed.
	before := l.mustCLI("set", "list", "--json")
	bad := writeFile(t, dir, "bad.txt", "192.0.2.0/24\n10.1.2.3/8\n2001:db8::/32\nnonsense\n")
	expectCLIError(t, l, "bad.txt: 2 bad lines (2, 4): line 2: ", "set", "load", "bl", bad)
	expectCLIError(t, l, "is not in set bl", "set", "del", "bl", "203.0.113.0/24")
	expectCLIError(t, l, "host bits", "set", "add", "bl", "203.0.113.1/24")
	expectCLIError(t, l, "used by rule 1", "set", "destroy", "bl")
	expectCLIError(t, l, "no set named nope", "set", "add", "nope", "203.0.113.0/24")
	expectCLIError(t, l, "set @nope does not exist", "rule", "add", "--src", "@nope", "--action", "drop")
	v4 := writeFile(t, dir, "v6.txt", "2001:db8::/32\n")
	l.mustCLI("set", "create", "--family", "ipv4", "only4")
	expectCLIError(t, l, "v6.txt:1: 2001:db8::/32 is IPv6, but the set is ipv4", "set", "load", "only4", v4)
	l.mustCLI("set", "destroy", "only4")
	if after := l.mustCLI("set", "list", "--json"); after != before {
		t.Errorf("failed set commands changed the sets:\nbefore %s\nafter  %s", before, after)
	}
	infos := decodeJSON[[]loader.SetInfo](t, "set list", before)
	if len(infos) != 1 || infos[0].Name != "bl" || len(infos[0].ReferencedBy) != 1 {
		t.Errorf("set list: %+v", infos)
	}

	// save | apply -f - is a no-op, sets included; an applied file can
	// change the set's elements along with the rules.
	saved := l.mustCLI("save")
	if out, err := runCLI(t, l.pinDir, saved, "apply", "-f", "-"); err != nil || !strings.HasPrefix(out, "unchanged") {
		t.Errorf("save | apply: %q, %v", out, err)
	}
	file := writeFile(t, dir, "small.yaml", fmt.Sprintf(`policy: pass
sets:
  bl: {elements: [%s]}
rules:
  - {src: "@bl", proto: udp, dport: 5001, action: drop}
`, client))
	l.mustCLI("apply", "-f", file)
	if n := l.udpProbe(c4, open, netip.AddrPortFrom(l.serverV4, 5001), 3, false); n != 0 {
		t.Errorf("after apply: %d datagrams to 5001 arrived, want none", n)
	}
	if n := l.udpProbe(c4, blocked, dst, 3, true); n != 3 {
		t.Errorf("after apply: %d of 3 datagrams to 5002 arrived, want all", n)
	}
	if got := strings.TrimSpace(l.mustCLI("set", "list", "bl")); got != client {
		t.Errorf("set list bl after apply: %q, want %q", got, client)
	}
	l.mustCLI("detach", serverIf)
	assertNoPinDir(t, l, "the last detach")
}
