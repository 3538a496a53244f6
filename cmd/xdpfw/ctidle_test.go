package main

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// TestConntrackIdleCLI: while nothing reads connection state the table is
// idle, and still learns; the change that starts reading it (a ct-state
// rule, then the drop policy) makes it whole with the idle table's flows,
// so a reply to what the server sent before passes; the change that stops
// makes it idle again, the flow still there. No size is ever saved.
func TestConntrackIdleCLI(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	l := newLab(t)
	l.mustCLI("attach", serverIf, "--mode", "native")
	ctStats := func(when string, capacity int, idle bool) loader.CTStats {
		t.Helper()
		st := decodeJSON[loader.CTStats](t, "ct stats --json", l.mustCLI("ct", "stats", "--json"))
		if st.Capacity != capacity || st.Idle != idle {
			t.Errorf("ct stats %s: capacity %d, idle %v; want %d, %v", when, st.Capacity, st.Idle, capacity, idle)
		}
		if status := l.status(); status.CTFlows != capacity || status.CTIdle != idle {
			t.Errorf("status --json %s: ct_flows %d, ct_idle %v; want %d, %v", when, status.CTFlows, status.CTIdle, capacity, idle)
		}
		return st
	}
	ctStats("after attach (policy pass, no rules)", layout.CtIdleEntries, true)
	for _, args := range [][]string{{"ct", "stats"}, {"status"}} {
		if human := l.mustCLI(args...); !strings.Contains(human, "idle") {
			t.Errorf("%s of an idle table:\n%s\nwant it said", strings.Join(args, " "), human)
		}
	}

	srv := l.serverUDP(l.serverV4, 0)
	cli := l.clientUDP(l.clientV4)
	srvAt := netip.AddrPortFrom(l.serverV4, uint16(srv.LocalAddr().(*net.UDPAddr).Port))
	cliAt := netip.AddrPortFrom(l.clientV4, uint16(cli.LocalAddr().(*net.UDPAddr).Port))
	tok := l.token("out")
	l.sendUDP(srv, cliAt, tok, 3)
	if got := l.recvUDP(cli, tok, 3, 2*time.Second); got != 3 {
		t.Fatalf("%d of 3 datagrams from the server arrived", got)
	}
	listed := func(when string) {
		t.Helper()
		flows := decodeJSON[[]loader.Flow](t, "ct list --json", l.mustCLI("ct", "list", "--json", "--addr", l.clientV4.String()))
		if len(flows) != 1 || flows[0].LocalPort != srvAt.Port() || flows[0].RemotePort != cliAt.Port() {
			t.Errorf("ct list %s: %+v, want the flow %s > %s", when, flows, srvAt, cliAt)
		}
	}
	listed("in the idle table")

	l.addRule(1, "--ct-state", "established", "--action", "pass")
	ctStats("after a ct-state rule", layout.CtEntries, false)
	l.mustCLI("policy", "drop")
	ctStats("after policy drop", layout.CtEntries, false)
	listed("in the whole table")
	if got := l.udpProbe(cli, srv, srvAt, 3, true); got != 3 {
		t.Errorf("%d of 3 replies arrived, want all (established by a flow the idle table learnt)", got)
	}

	l.mustCLI("policy", "pass")
	ctStats("after policy pass, the ct-state rule still there", layout.CtEntries, false)
	l.mustCLI("rule", "del", "1")
	ctStats("with nothing reading it again", layout.CtIdleEntries, true)
	listed("in the idle table again")
	if saved := l.mustCLI("save"); strings.Contains(saved, "max-flows") {
		t.Errorf("save of a ruleset that set no max-flows:\n%s", saved)
	}
	if st := l.status(); len(st.Interfaces) != 1 || len(st.Problems) != 0 {
		t.Errorf("status after the resizes %+v: want %s, no problems", st, serverIf)
	}
}

// TestConntrackSeedCLI: a TCP connection the server only receives on,
// whose flow the idle table has forgotten, still gets its data through once a ct-state rule and the
// drop policy start reading the table: the change that made the table
// whole put the server's established connections in from the kernel's
// socket table.
func TestConntrackSeedCLI(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	l := newLab(t)
	l.mustCLI("attach", serverIf, "--mode", "native")
	sc, cc, port := l.tcpPair(t)

	// Forgotten, as an idle table forgets a connection once a thousand
	// newer flows went out (the kernel's LRU evicts per CPU, too loosely
	// for a test to count on it).
	l.mustCLI("ct", "flush")
	if flows := decodeJSON[[]loader.Flow](t, "ct list --json", l.mustCLI("ct", "list", "--json", "--port", port)); len(flows) != 0 {
		t.Fatalf("the idle table still holds the connection %+v: it proves nothing", flows)
	}

	l.addRule(1, "--ct-state", "established", "--action", "pass")
	l.mustCLI("policy", "drop")
	flows := decodeJSON[[]loader.Flow](t, "ct list --json", l.mustCLI("ct", "list", "--json", "--port", port))
	if len(flows) != 1 || flows[0].State != "established" || flows[0].Kind != "tcp" {
		t.Errorf("ct list --port %s once the table is whole: %+v, want the server's connection, established", port, flows)
	}
	l.tcpDelivers(t, cc, sc, "after the switch")
}

// TestConntrackAttachSeedCLI: a TCP connection made before xdpfw was
// attached, on which the server only receives, keeps receiving once
// xdpfw is attached under a drop policy with a ct-state rule: the
// attach put the server's established connection into the table.
func TestConntrackAttachSeedCLI(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	l := newLab(t)
	file := writeFile(t, t.TempDir(), "ct.yaml", "policy: drop\nrules:\n  - {ct-state: established, action: pass}\n")
	l.mustCLI("apply", "-f", file)
	sc, cc, port := l.tcpPair(t)
	l.mustCLI("attach", serverIf, "--mode", "native")
	flows := decodeJSON[[]loader.Flow](t, "ct list --json", l.mustCLI("ct", "list", "--json", "--port", port))
	if len(flows) != 1 || flows[0].State != "established" || flows[0].Kind != "tcp" {
		t.Errorf("ct list --port %s after attach: %+v, want the server's connection, established", port, flows)
	}
	l.tcpDelivers(t, cc, sc, "after the attach")
}

// tcpPair is a TCP connection from the client to a listener on the
// server's address: the server's end, the client's, and the server's
// port as ct list --port takes it.
func (l *lab) tcpPair(t *testing.T) (server, client net.Conn, port string) {
	t.Helper()
	var (
		ln  *net.TCPListener
		err error
	)
	inNS(t, l.serverNS, func() { ln, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.serverV4, 0))) })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	inNS(t, l.clientNS, func() { client, err = net.DialTimeout("tcp4", ln.Addr().String(), 2*time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if server, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return server, client, fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// tcpDelivers: what the client sends arrives at the server.
func (l *lab) tcpDelivers(t *testing.T, client, server net.Conn, when string) {
	t.Helper()
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	server.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 16)
	n, err := server.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Errorf("the server read %q (%v) of what the client sent %s, want hello: its connection dropped", buf[:n], err, when)
	}
}
