package main

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// TestConntrackSweepCLI: a flow the host's datagram made, left idle past
// its timeout, is removed by ct sweep (counted expired, with no
// eviction), while one still within it stays; ct sweep --json says how
// many it read and removed.
func TestConntrackSweepCLI(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	l := newLab(t)
	path := filepath.Join(t.TempDir(), "sweep.yaml")
	ruleset := `policy: drop
conntrack:
  timeouts: {udp: 3s, udp-replied: 3s}
rules:
  - {action: pass, ct-state: established}
`
	if err := os.WriteFile(path, []byte(ruleset), 0o644); err != nil {
		t.Fatal(err)
	}
	l.mustCLI("apply", "-f", path)
	l.mustCLI("attach", serverIf, "--mode", "native")

	srv := l.serverUDP(l.serverV4, 0)
	cli := l.clientUDP(l.clientV4)
	cliAt := netip.AddrPortFrom(l.clientV4, uint16(cli.LocalAddr().(*net.UDPAddr).Port))
	l.sendUDP(srv, cliAt, l.token("old"), 1)
	flows := func() []loader.Flow {
		return decodeJSON[[]loader.Flow](t, "ct list --json", l.mustCLI("ct", "list", "--json", "--addr", l.clientV4.String()))
	}
	if got := flows(); len(got) != 1 {
		t.Fatalf("ct list after the host's datagram: %+v, want its flow", got)
	}
	before := decodeJSON[loader.CTStats](t, "ct stats --json", l.mustCLI("ct", "stats", "--json"))

	time.Sleep(3500 * time.Millisecond) // past udp's 3s
	// A second flow, from another socket, within its timeout: 3 s, as
	// the sweep must come within it on a machine the whole suite loads
	// (1 s was missed there, and the sweep took the new flow too).
	other := l.serverUDP(l.serverV4, 0)
	l.sendUDP(other, cliAt, l.token("new"), 1)
	res := decodeJSON[loader.SweepResult](t, "ct sweep --json", l.mustCLI("ct", "sweep", "--json"))
	if res.Expired < 1 || res.Entries < 2 {
		t.Errorf("ct sweep --json %+v, want the idle flow removed, of at least the two", res)
	}
	got := flows()
	if len(got) != 1 || got[0].LocalPort != uint16(other.LocalAddr().(*net.UDPAddr).Port) {
		t.Errorf("ct list after the sweep: %+v, want only the new flow", got)
	}
	after := decodeJSON[loader.CTStats](t, "ct stats --json", l.mustCLI("ct", "stats", "--json"))
	if after.Expired < before.Expired+uint64(res.Expired) || after.Evictions != 0 {
		t.Errorf("ct stats after the sweep %+v (before %+v): want the removed flows expired, no eviction", after, before)
	}
}

// TestServeSweepsConntrack: serve sweeps the table as often as the
// shortest timeout: a flow the host's datagram made, which no packet
// comes back on, is gone a few seconds after its 2s timeout, counted
// expired (a packet never looked it up: only a sweep removes it so).
func TestServeSweepsConntrack(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	l := newLab(t)
	exe := buildXdpfw(t)
	cfg := writeFile(t, t.TempDir(), "xdpfw.yaml", `policy: drop
interfaces: [{name: `+serverIf+`, mode: native}]
conntrack:
  timeouts: {udp: 2s, udp-replied: 2s}
rules:
  - {action: pass, ct-state: established}
`)
	p := startProc(t, "nsenter", "--net=/run/netns/"+l.serverName, exe, "--pin-dir", l.pinDir, "serve", "--config", cfg)
	p.waitLog("config applied")

	srv := l.serverUDP(l.serverV4, 0)
	cli := l.clientUDP(l.clientV4)
	cliAt := netip.AddrPortFrom(l.clientV4, uint16(cli.LocalAddr().(*net.UDPAddr).Port))
	l.sendUDP(srv, cliAt, l.token("out"), 1)
	stats := func() loader.CTStats {
		return decodeJSON[loader.CTStats](t, "ct stats --json", l.mustCLI("ct", "stats", "--json"))
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		st := stats()
		if st.Inserts >= 1 && st.Entries == 0 && st.Expired >= 1 && st.Evictions == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ct stats %+v 20s after the host's datagram: want its flow learnt and swept (expired, no entries)", st)
		}
	}
}
