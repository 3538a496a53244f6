package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestGrowAcrossApply: an `apply` whose rule vectors outgrow the map
// (1500 rules against a new state's room for 448) while xdpfw enforces
// a small ruleset on an interface. Traffic is decided by the old ruleset
// up to the apply and by the new one after it, on the same interface,
// which runs the pinned program throughout, and status sees nothing
// wrong.
func TestGrowAcrossApply(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	l := newLab(t)
	c4 := l.clientUDP(l.clientV4)
	dst := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(l.serverV4, port) }
	low, high := l.serverUDP(l.serverV4, 5001), l.serverUDP(l.serverV4, 6499)

	write := func(name, body string) string {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	small := write("small.yaml", "policy: pass\nrules:\n  - {action: drop, proto: udp, dport: 5001}\n")
	var b strings.Builder
	b.WriteString("policy: pass\nrules:\n")
	for port := 5000; port < 6500; port++ {
		// Only the last rule names the port the probe uses: its bit is
		// in the 24th word, far past a new state's seven.
		action := "pass"
		if port == 6499 {
			action = "drop"
		}
		fmt.Fprintf(&b, "  - {action: %s, proto: udp, dport: %d}\n", action, port)
	}
	big := write("big.yaml", b.String())

	l.mustCLI("apply", "-f", small)
	l.mustCLI("attach", serverIf, "--mode", "native")
	progBefore := l.status().Interfaces[0].ProgID
	if got := l.udpProbe(c4, low, dst(5001), 3, false); got != 0 {
		t.Fatalf("small ruleset: %d datagrams to 5001 arrived, want none", got)
	}
	if got := l.udpProbe(c4, high, dst(6499), 3, true); got != 3 {
		t.Fatalf("small ruleset: %d of 3 datagrams to 6499 arrived, want all", got)
	}

	l.mustCLI("apply", "-f", big)
	st := l.status()
	if len(st.Problems) != 0 || st.Rules != 1500 || len(st.Interfaces) != 1 {
		t.Fatalf("status after growing: %+v", st)
	}
	if st.Interfaces[0].ProgID == progBefore {
		t.Errorf("the interface still runs program %d after the vectors grew: it would read the old map", progBefore)
	}
	if got := l.udpProbe(c4, low, dst(5001), 3, true); got != 3 {
		t.Errorf("1500 rules: %d of 3 datagrams to 5001 arrived, want all (rule 2 passes it)", got)
	}
	if got := l.udpProbe(c4, high, dst(6499), 3, false); got != 0 {
		t.Errorf("1500 rules: %d datagrams to 6499 arrived, want none (the last rule drops it)", got)
	}
}

// TestNoticesWithoutInterfaces: an apply that grows the maps, or resizes
// the conntrack tables, of a state attached to no interface (a first
// apply) says what it made larger and nothing of interfaces: it said
// "the program replaced on every interface" where there was none.
func TestNoticesWithoutInterfaces(t *testing.T) {
	privtest.Require(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pin := privtest.PinDir(t)
	defer runMain(t, exe, 0, "--pin-dir", pin, "detach", "--all")
	var b strings.Builder
	b.WriteString("policy: pass\nrules:\n")
	for port := 5000; port < 6500; port++ {
		fmt.Fprintf(&b, "  - {action: drop, proto: udp, dport: %d}\n", port)
	}
	dir := t.TempDir()
	big := writeFile(t, dir, "big.yaml", b.String())
	ct := writeFile(t, dir, "ct.yaml", "policy: drop\nrules:\n  - {ct-state: established, action: pass}\n")
	for _, tc := range []struct{ file, want string }{
		{big, "xdpfw: the ruleset outgrew its maps in " + pin + ": "},
		{ct, "xdpfw: the conntrack tables in " + pin + " now hold "},
	} {
		_, stderr, code := runMain(t, exe, 0, "--pin-dir", pin, "apply", "-f", tc.file)
		if code != 0 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "interface") {
			t.Errorf("apply -f %s: exit %d, stderr %q; want %q and no interface named", filepath.Base(tc.file), code, stderr, tc.want)
		}
	}
}

// TestNoticeCountsLeft: a growth that leaves an interface running
// another's program (LeftNotice) says on how many of the interfaces it
// replaced the program: it said "every interface" all the same.
func TestNoticeCountsLeft(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := newNSCLI(t, "ncl0")
	c.in(func() error {
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ncl1"}, PeerName: "ncl1p"})
	})
	c.mustRun("attach", "--mode", "generic", "ncl0", "ncl1")
	defer c.run("detach", "--all")
	other, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "other", Type: ebpf.XDP, License: "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c.in(func() error {
		link, err := netlink.LinkByName("ncl1")
		if err != nil {
			return err
		}
		return netlink.LinkSetXdpFdWithFlags(link, other.FD(), nl.XDP_FLAGS_SKB_MODE)
	})
	var b strings.Builder
	b.WriteString("policy: pass\nrules:\n")
	for port := 5000; port < 6500; port++ {
		fmt.Fprintf(&b, "  - {action: drop, proto: udp, dport: %d}\n", port)
	}
	big := writeFile(t, t.TempDir(), "big.yaml", b.String())
	var stderr string
	var code int
	c.in(func() error {
		// The child runs in the namespace of the thread that forks it.
		_, stderr, code = runMain(t, exe, 0, "--pin-dir", c.dir, "apply", "-f", big)
		return nil
	})
	want := "the program replaced on 1 of the 2 interfaces"
	if code != 0 || !strings.Contains(stderr, want) || strings.Contains(stderr, "every interface") {
		t.Errorf("apply -f big.yaml: exit %d, stderr %q; want %q", code, stderr, want)
	}
}
