package main

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// setSockopt sets an integer socket option on c.
func setSockopt(t *testing.T, c *net.UDPConn, level, opt, val int) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, val) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatalf("setsockopt %d/%d: %v", level, opt, serr)
	}
}

// TestEndToEndMatchFields drives the richer match conditions through
// `rule add` against real traffic on a veth: TCP flags, TTL and hop
// limit, DSCP, frame length, fragments, ICMP type, family and the input
// interface. Each rule
// must stop exactly the traffic it names and let the rest through.
func TestEndToEndMatchFields(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	l := newLab(t)

	plain4, plain6 := l.clientUDP(l.clientV4), l.clientUDP(l.clientV6)
	ttl4, ttl6 := l.clientUDP(l.clientV4), l.clientUDP(l.clientV6)
	setSockopt(t, ttl4, unix.IPPROTO_IP, unix.IP_TTL, 3)
	setSockopt(t, ttl6, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 3)
	ef4 := l.clientUDP(l.clientV4)
	setSockopt(t, ef4, unix.IPPROTO_IP, unix.IP_TOS, 46<<2)
	srv4, srv6 := l.serverUDP(l.serverV4, 6001), l.serverUDP(l.serverV6, 6001)
	dst4, dst6 := netip.AddrPortFrom(l.serverV4, 6001), netip.AddrPortFrom(l.serverV6, 6001)
	synDropped, synOpen := l.serverTCP(), l.serverTCP()
	icmp := l.clientICMP()

	// probe sends n datagrams of size bytes from c and says whether they
	// arrived (all of them) or not (none).
	probe := func(stage string, c, to *net.UDPConn, dst netip.AddrPort, size int, arrive bool) {
		t.Helper()
		const n = 4
		tok := l.token("f")
		for i := range n {
			p := []byte(tok + strings.Repeat("x", size))
			p[len(tok)] = byte('0' + i)
			if _, err := c.WriteToUDPAddrPort(p, dst); err != nil && !errorsIsRefused(err) {
				t.Fatalf("%s: send: %v", stage, err)
			}
		}
		wait := 300 * time.Millisecond
		want := 0
		if arrive {
			wait, want = 2*time.Second, n
		}
		if got := l.recvUDP(to, tok, want, wait); got != want {
			t.Fatalf("%s: %d of %d datagrams to %s arrived, want %d", stage, got, n, dst, want)
		}
	}

	l.mustCLI("attach", serverIf, "--mode", "native")
	probe("baseline", plain4, srv4, dst4, 10, true)

	// TCP flags: SYN without ACK to one port is dropped, so connecting
	// fails there and works on another port (whose SYN-ACK and ACKs pass).
	l.addRule(1, "--tcp-flags", "syn,!ack", "--dport", itoa(synDropped), "--action", "drop")
	if err := l.dialTCP(synDropped, 300*time.Millisecond); err == nil || !isTimeout(err) {
		t.Fatalf("tcp-flags: connect to %d: %v, want a timeout", synDropped, err)
	}
	if err := l.dialTCP(synOpen, 2*time.Second); err != nil {
		t.Fatalf("tcp-flags: connect to %d: %v, want success", synOpen, err)
	}

	// TTL and hop limit 0-5 dropped: sockets sending with 3 lose
	// everything, the default (64) gets through.
	l.addRule(2, "--ttl", "0-5", "--proto", "udp", "--action", "drop")
	probe("ttl v4", ttl4, srv4, dst4, 10, false)
	probe("ttl v6", ttl6, srv6, dst6, 10, false)
	probe("ttl default v4", plain4, srv4, dst4, 10, true)
	probe("ttl default v6", plain6, srv6, dst6, 10, true)

	// DSCP EF dropped; best effort passes.
	l.addRule(3, "--dscp", "ef", "--action", "drop")
	probe("dscp ef", ef4, srv4, dst4, 10, false)
	probe("dscp 0", plain4, srv4, dst4, 10, true)

	// Frames of 1000 bytes or more dropped: a 1200-byte datagram is lost,
	// a small one arrives.
	l.addRule(4, "--length", "1000-65535", "--action", "drop")
	probe("length 1200", plain4, srv4, dst4, 1200, false)
	probe("length small", plain4, srv4, dst4, 100, true)

	// Later fragments dropped: a 3000-byte datagram leaves the client in
	// three fragments over the 1500-byte MTU and is never reassembled;
	// whole datagrams pass. (The length rule goes first: it would drop
	// the fragments too.)
	l.mustCLI("rule", "del", "4")
	l.addRule(5, "--fragment", "non-first", "--action", "drop")
	probe("fragmented", plain4, srv4, dst4, 3000, false)
	probe("fragmented v6", plain6, srv6, dst6, 3000, false)
	probe("whole", plain4, srv4, dst4, 1000, true)
	l.mustCLI("rule", "del", "5")
	probe("fragmented, rule deleted", plain4, srv4, dst4, 3000, true)

	// ICMP echo requests dropped by type; deleting the rule restores ping.
	l.addRule(6, "--icmp-type", "echo-request", "--action", "drop")
	if l.ping(icmp, 300*time.Millisecond) {
		t.Fatal("icmp-type echo-request: ping answered, want dropped")
	}
	l.mustCLI("rule", "del", "6")
	if !l.ping(icmp, 2*time.Second) {
		t.Fatal("ping not answered after deleting the icmp-type rule")
	}

	// Input interface: a rule for another interface name never matches,
	// one for this interface does.
	l.addRule(7, "--iface", "nosuchif0", "--proto", "udp", "--action", "drop")
	probe("iface other", plain6, srv6, dst6, 10, true)
	l.addRule(8, "--iface", serverIf, "--proto", "udp", "--family", "ipv6", "--action", "drop")
	probe("iface this v6", plain6, srv6, dst6, 10, false)
	probe("iface this v4", plain4, srv4, dst4, 10, true)

	// Counters and conditions as `rule list` shows them.
	rl := l.ruleList()
	if r := findRule(t, rl, 8); r.Packets != 4 || r.Conditions["iface"] != serverIf {
		t.Fatalf("rule 8: %+v, want 4 packets and iface %s", r, serverIf)
	}
	if r := findRule(t, rl, 1); r.Conditions["tcp-flags"] != "syn,!ack" || r.Conditions["proto"] != "tcp" {
		t.Fatalf("rule 1 conditions %v, want tcp-flags syn,!ack with proto tcp implied", r.Conditions)
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

func errorsIsRefused(err error) bool {
	return strings.Contains(err.Error(), syscall.ECONNREFUSED.Error())
}
