package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// TestConntrackCLI: real traffic through the lab's veth. xdpfw (status
// showing its egress learner) on the server's interface under policy drop with one rule passing established
// traffic: a datagram the server sends is learned by the egress program,
// so the client's replies pass (and only to that socket); ct list shows
// the flow, ct stats and stats count it, ct flush empties the table, and
// the client's next datagram is new again, so dropped.
func TestConntrackCLI(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	l := newLab(t)
	l.mustCLI("attach", serverIf, "--mode", "native")
	l.addRule(1, "--ct-state", "established", "--action", "pass")
	l.mustCLI("policy", "drop")
	if st := l.status(); len(st.Interfaces) != 1 || st.Interfaces[0].Egress == loader.EgressNone || len(st.Problems) != 0 {
		t.Fatalf("status --json %+v: want %s with its egress learner, no problems", st, serverIf)
	}

	srv, other := l.serverUDP(l.serverV4, 0), l.serverUDP(l.serverV4, 0)
	cli := l.clientUDP(l.clientV4)
	srvAt := netip.AddrPortFrom(l.serverV4, uint16(srv.LocalAddr().(*net.UDPAddr).Port))
	otherAt := netip.AddrPortFrom(l.serverV4, uint16(other.LocalAddr().(*net.UDPAddr).Port))
	cliAt := netip.AddrPortFrom(l.clientV4, uint16(cli.LocalAddr().(*net.UDPAddr).Port))

	// Unsolicited: dropped, and no state.
	if got := l.udpProbe(cli, other, otherAt, 3, false); got != 0 {
		t.Fatalf("%d unsolicited datagrams arrived, want none", got)
	}
	tok := l.token("out")
	l.sendUDP(srv, cliAt, tok, 3)
	if got := l.recvUDP(cli, tok, 3, 2*time.Second); got != 3 {
		t.Fatalf("%d of 3 datagrams from the server arrived", got)
	}
	if got := l.udpProbe(cli, srv, srvAt, 3, true); got != 3 {
		t.Fatalf("%d of 3 replies arrived, want all (established)", got)
	}
	if got := l.udpProbe(cli, other, otherAt, 3, false); got != 0 {
		t.Fatalf("%d datagrams to another port arrived, want none (not the learned flow)", got)
	}

	flows := decodeJSON[[]loader.Flow](t, "ct list --json", l.mustCLI("ct", "list", "--json", "--addr", l.clientV4.String()))
	if len(flows) != 1 {
		t.Fatalf("ct list --addr %s: %+v, want the one learned flow", l.clientV4, flows)
	}
	f := flows[0]
	if f.Proto != "udp" || f.Kind != "udp" || f.Local != l.serverV4 || f.LocalPort != srvAt.Port() ||
		f.Remote != l.clientV4 || f.RemotePort != cliAt.Port() || !f.Replied || f.State != "replied" {
		t.Errorf("flow %+v, want udp %s > %s, replied", f, srvAt, cliAt)
	}
	if f.Age < 0 || f.Age > time.Minute || f.Left <= 100*time.Second || f.Left > 120*time.Second {
		t.Errorf("flow age %v, left %v; want recent, within udp-replied's 120s", f.Age, f.Left)
	}
	if out := l.mustCLI("ct", "list", "--json", "--proto", "tcp", "--addr", l.clientV4.String()); strings.TrimSpace(out) != "[]" {
		t.Errorf("ct list --proto tcp: %s, want []", out)
	}
	human := l.mustCLI("ct", "list", "--port", fmt.Sprint(cliAt.Port()))
	if !strings.Contains(human, srvAt.String()) || !strings.Contains(human, cliAt.String()) || !strings.Contains(human, "replied") {
		t.Errorf("ct list table:\n%s\nwant the flow %s > %s, replied", human, srvAt, cliAt)
	}

	st := decodeJSON[loader.CTStats](t, "ct stats --json", l.mustCLI("ct", "stats", "--json"))
	if st.Entries < 1 || st.Capacity < st.Entries || st.Inserts < 1 || st.Egress < 3 || st.States["established"] < 3 ||
		st.States["new"] < 6 || st.Timeouts["udp"] != 30 || st.Timeouts["udp-replied"] != 120 {
		t.Errorf("ct stats %+v: want the flow, 3 egress packets, 3 established and 6 new", st)
	}
	stats := l.stats()
	if stats["ct-established"].Packets != st.States["established"] {
		t.Errorf("stats --json ct-established %+v, ct stats %d", stats["ct-established"], st.States["established"])
	}

	out := decodeJSON[map[string]int](t, "ct flush --json", l.mustCLI("ct", "flush", "--json"))
	if out["flushed"] < 1 {
		t.Errorf("ct flush: %v, want the learned flow flushed", out)
	}
	if out := l.mustCLI("ct", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("ct list after flush: %s, want []", out)
	}
	after := decodeJSON[loader.CTStats](t, "ct stats --json", l.mustCLI("ct", "stats", "--json"))
	if after.Entries != 0 || after.Flushed != uint64(out["flushed"]) || after.Evictions != 0 {
		t.Errorf("ct stats after flush %+v: want empty, %d flushed, no evictions", after, out["flushed"])
	}
	if got := l.udpProbe(cli, srv, srvAt, 3, false); got != 0 {
		t.Errorf("%d datagrams arrived after the flush, want none (new again)", got)
	}
	// The table's size is the ruleset's: apply makes a table of it (the
	// server's program replaced, still enforcing), save writes it back.
	file := writeFile(t, t.TempDir(), "ct.yaml", "policy: drop\nconntrack:\n  max-flows: 8192\nrules:\n  - {ct-state: established, action: pass}\n")
	l.mustCLI("apply", "-f", file)
	if st := decodeJSON[loader.CTStats](t, "ct stats --json", l.mustCLI("ct", "stats", "--json")); st.Capacity != 8192 {
		t.Errorf("ct stats after max-flows: 8192: capacity %d", st.Capacity)
	}
	if saved := l.mustCLI("save"); !strings.Contains(saved, "max-flows: 8192") {
		t.Errorf("save after max-flows: 8192:\n%s", saved)
	}
	if st := l.status(); len(st.Interfaces) != 1 || len(st.Problems) != 0 {
		t.Errorf("status after the resize %+v: want %s, no problems", st, serverIf)
	}
	l.sendUDP(srv, cliAt, tok, 1)
	if got := l.udpProbe(cli, srv, srvAt, 3, true); got != 3 {
		t.Errorf("%d of 3 replies arrived through the resized table, want all (established)", got)
	}
	if got := l.udpProbe(cli, other, otherAt, 3, false); got != 0 {
		t.Errorf("%d unsolicited datagrams arrived after the resize, want none", got)
	}
	for _, bad := range [][]string{{"ct", "list", "--state", "open"}, {"ct", "list", "--addr", "10.0.0.300"}, {"ct", "list", "--proto", "xyz"}, {"ct", "flush", "now"}} {
		expectCLIError(t, l, "ct ", bad...)
	}
}

// TestCTStatsIntervalFreesLock: ct stats --interval holds the state only
// for its two reads, not across the wait between them, so another
// command (here rule list; in production serve's reloads, scrapes and
// shutdown) runs meanwhile instead of waiting for the pin directory's
// lock.
func TestCTStatsIntervalFreesLock(t *testing.T) {
	pin, _ := withLiveRuleset(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "--pin-dir", pin, "ct", "stats", "--interval", "30s")
	cmd.Env = append(os.Environ(), "XDPFW_TEST_MAIN=1") // TestMain runs main
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() { cmd.Process.Kill(); <-done }()
	time.Sleep(time.Second) // its first read is over by then
	mustRunCLI(t, pin, "", "rule", "list")
	select {
	case <-done:
		t.Error("rule list ran only once ct stats --interval 30s had finished: it held the lock through its interval")
	default:
	}
}

// TestEndpointShowsPorts: ct list shows a port where the flow has one: an
// echo flow's identifier on its local side only (its remote was shown
// as addr:0).
func TestEndpointShowsPorts(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	for _, c := range []struct {
		kind  string
		local bool
		want  string
	}{
		{"tcp", true, "192.0.2.1:7"}, {"tcp", false, "192.0.2.1:7"}, {"udp", false, "192.0.2.1:7"},
		{"echo", true, "192.0.2.1:7"}, {"echo", false, "192.0.2.1"}, {"generic", true, "192.0.2.1"},
	} {
		if got := endpoint(a, 7, c.kind, c.local); got != c.want {
			t.Errorf("endpoint(%s, local %v) = %q, want %q", c.kind, c.local, got, c.want)
		}
	}
}
