package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestHostFirewall is issue 14's host firewall, end to end through real
// traffic: the server namespace is a host with xdpfw attached, policy
// drop, its replies let in by `ct-state established,related` and one
// service port open, and the client namespace is the rest of the world.
// What the host starts works, in both families; what the world starts
// gets nothing and leaves no state.
func TestHostFirewall(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	l := newLab(t)
	h := hostLab{lab: l}

	service := l.serverTCP() // the "ssh" the host offers
	closed := l.serverTCP()  // listening, but no rule lets it in
	ruleset := fmt.Sprintf(`policy: drop
conntrack:
  timeouts: {udp: 2s, udp-replied: 2s}
rules:
  - action: pass
    ct-state: established,related
    comment: replies to what this host started
  - action: pass
    proto: tcp
    dport: %d
    comment: the one service offered
`, service)
	path := filepath.Join(t.TempDir(), "hostfw.yaml")
	if err := os.WriteFile(path, []byte(ruleset), 0o644); err != nil {
		t.Fatal(err)
	}
	l.mustCLI("apply", "-f", path)
	l.mustCLI("attach", serverIf, "--mode", "native")

	// DHCP: a reply nobody asked for is dropped; the reply to the host's
	// own request passes (no rule names it: it passes like ARP).
	dhcpServer := h.dhcpServer()
	dhcpClient := h.dhcpClient()
	if h.dhcpReply(dhcpServer, dhcpClient, "unsolicited") {
		t.Fatal("a DHCP reply to no request of the host's arrived")
	}
	h.dhcpRequest(dhcpClient)
	if !h.dhcpReply(dhcpServer, dhcpClient, "offer") {
		t.Fatal("the reply to the host's own DHCP request did not arrive: it would lose its lease")
	}

	// What the host starts: TCP, UDP and ICMP, IPv4 and IPv6.
	for _, remote := range []netip.Addr{l.clientV4, l.clientV6} {
		port := h.clientTCP(remote)
		if err := h.dialFromServer(netip.AddrPortFrom(remote, port), 2*time.Second); err != nil {
			t.Fatalf("the host's own TCP connection to %s:%d: %v", remote, port, err)
		}
		echo := h.clientEcho(remote, 0)
		if got := h.udpExchange(netip.AddrPortFrom(remote, echo), 100); got != 100 {
			t.Fatalf("the host's own UDP query to %s: a %d-byte reply, want 100", remote, got)
		}
		// A reply bigger than the MTU arrives in fragments: the later
		// ones carry no ports and are let in by their datagram's id.
		if got := h.udpExchange(netip.AddrPortFrom(remote, echo), 4000); got != 4000 {
			t.Fatalf("the host's own UDP query to %s with a fragmented reply: %d bytes, want 4000", remote, got)
		}
		if err := h.pingFromServer(remote); err != nil {
			t.Fatalf("the host's own ping of %s: %v", remote, err)
		}
	}

	// What the world starts: nothing gets in but the service.
	if err := l.dialTCP(service, 2*time.Second); err != nil {
		t.Fatalf("connect to the service port %d: %v", service, err)
	}
	if err := l.dialTCP(closed, 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("connect to port %d, which no rule opens: %v, want a timeout (the SYN dropped)", closed, err)
	}
	c4 := l.clientUDP(l.clientV4)
	listener := l.serverUDP(l.serverV4, 5301)
	if got := l.udpProbe(c4, listener, netip.AddrPortFrom(l.serverV4, 5301), 5, false); got != 0 {
		t.Fatalf("unsolicited UDP: %d of 5 datagrams arrived, want none", got)
	}
	// From port 53, the hole a stateless ruleset needs for DNS replies.
	dns := h.clientUDPFrom(l.clientV4, 53)
	if got := l.udpProbe(dns, listener, netip.AddrPortFrom(l.serverV4, 5301), 5, false); got != 0 {
		t.Fatalf("unsolicited UDP from port 53: %d of 5 datagrams arrived, want none", got)
	}

	before := h.ctEntries()
	// An ACK scan and a spoofed SYN flood: no answer, no state.
	h.rawTCP(l.clientV4, closed, layers.TCP{ACK: true, Seq: 1, Ack: 1}, 20)
	for i := 0; i < 100; i++ {
		spoofed := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		h.rawTCP(spoofed, closed, layers.TCP{SYN: true, Seq: uint32(i)}, 1)
	}
	if after := h.ctEntries(); after != before {
		t.Fatalf("unsolicited traffic changed the connection table: %d flows before, %d after", before, after)
	}

	// Rates: what the host sends during the interval is counted per
	// second by the egress learner.
	sender := h.serverUDPSocket(l.serverV4)
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				sender.WriteToUDPAddrPort([]byte("tick"), netip.AddrPortFrom(l.clientV4, 9))
			}
		}
	}()
	var rates struct {
		PerSecond *struct {
			Interval float64 `json:"interval_s"`
			Egress   float64 `json:"egress_packets"`
			Inserts  float64 `json:"inserts"`
		} `json:"per_second"`
	}
	out := l.mustCLI("ct", "stats", "--interval", "500ms", "--json")
	close(stop)
	<-sent
	if err := json.Unmarshal([]byte(out), &rates); err != nil || rates.PerSecond == nil {
		t.Fatalf("ct stats --interval --json: %v, no per_second in %s", err, out)
	}
	if r := rates.PerSecond; r.Interval < 0.5 || r.Egress <= 0 || r.Inserts < 0 {
		t.Fatalf("ct stats --interval 500ms while the host sends: %+v, want an interval of at least 0.5 s and egress packets per second", *r)
	}

	// A flow idle past its timeout (udp-replied 2s here) is closed
	// again: the remote end's late datagram is dropped.
	late := h.clientEchoConn(l.clientV4, 0)
	src := h.serverUDPSocket(l.serverV4)
	remote := netip.MustParseAddrPort(late.LocalAddr().String())
	if got := h.exchangeOn(src, remote, 50); got != 50 {
		t.Fatalf("UDP exchange before the timeout: %d bytes back, want 50", got)
	}
	time.Sleep(3 * time.Second)
	local := netip.MustParseAddrPort(src.LocalAddr().String())
	if got := l.udpProbe(late, src, local, 3, false); got != 0 {
		t.Fatalf("a datagram of a flow idle past its timeout: %d of 3 arrived, want none", got)
	}
}

// hostLab is the lab seen from the server: the host xdpfw protects,
// starting connections of its own to the client, "the world".
type hostLab struct {
	*lab
}

// serverNSPath is the server namespace's bind mount (newNamedNS).
func (h *hostLab) serverNSPath() string { return filepath.Join("/run/netns", h.serverName) }

// clientTCP opens a TCP listener in the client namespace that greets
// and closes every connection, and returns its port.
func (h *hostLab) clientTCP(ip netip.Addr) uint16 { return h.tcpListener(h.clientNS, ip, "hello") }

// dialFromServer connects from the host and reads the greeting: the
// handshake's SYN-ACK and the data both come back in.
func (h *hostLab) dialFromServer(to netip.AddrPort, timeout time.Duration) error {
	var err error
	inNS(h.t, h.serverNS, func() {
		var c net.Conn
		if c, err = (&net.Dialer{Timeout: timeout}).Dial("tcp", to.String()); err != nil {
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(timeout))
		b := make([]byte, 16)
		var n int
		if n, err = c.Read(b); err == nil && string(b[:n]) != "hello" {
			err = fmt.Errorf("read %q, want hello", b[:n])
		}
	})
	return err
}

// clientEcho opens a UDP server in the client namespace on port (0: any)
// that answers each datagram "N" (a decimal size) with N bytes.
func (h *hostLab) clientEcho(ip netip.Addr, port uint16) uint16 {
	return uint16(h.clientEchoConn(ip, port).LocalAddr().(*net.UDPAddr).Port)
}

// clientEchoConn is clientEcho's socket, which may also send.
func (h *hostLab) clientEchoConn(ip netip.Addr, port uint16) *net.UDPConn {
	h.t.Helper()
	c := h.udpIn(h.clientNS, netip.AddrPortFrom(ip, port))
	go func() {
		b := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			var size int
			if _, err := fmt.Sscanf(string(b[:n]), "%d", &size); err != nil || size < 1 || size > 60000 {
				continue
			}
			c.WriteToUDPAddrPort(bytes.Repeat([]byte{'r'}, size), from)
		}
	}()
	return c
}

// clientUDPFrom opens a UDP socket in the client namespace bound to port.
func (h *hostLab) clientUDPFrom(ip netip.Addr, port uint16) *net.UDPConn {
	return h.udpIn(h.clientNS, netip.AddrPortFrom(ip, port))
}

// serverUDPSocket opens a UDP socket of the host on an ephemeral port.
func (h *hostLab) serverUDPSocket(ip netip.Addr) *net.UDPConn {
	return h.udpIn(h.serverNS, netip.AddrPortFrom(ip, 0))
}

// udpExchange asks the client's echo server for size bytes from a fresh
// socket of the host and returns how many came back (0: nothing).
func (h *hostLab) udpExchange(to netip.AddrPort, size int) int {
	h.t.Helper()
	local := h.serverV4
	if to.Addr().Is6() {
		local = h.serverV6
	}
	return h.exchangeOn(h.serverUDPSocket(local), to, size)
}

func (h *hostLab) exchangeOn(c *net.UDPConn, to netip.AddrPort, size int) int {
	h.t.Helper()
	if _, err := c.WriteToUDPAddrPort([]byte(fmt.Sprint(size)), to); err != nil {
		h.t.Fatalf("send to %s: %v", to, err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 65536)
	n, _, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		return 0
	}
	return n
}

// pingFromServer pings remote once from the host, with the system's ping
// (an ICMP echo of its own, in either family).
func (h *hostLab) pingFromServer(remote netip.Addr) error {
	fam := "-4"
	if remote.Is6() {
		fam = "-6"
	}
	out, err := exec.Command("nsenter", "--net="+h.serverNSPath(), "ping", fam, "-c", "1", "-W", "2", remote.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// rawTCP sends n copies of a TCP segment from src (any address: the IP
// header is written whole) to the host's port, from the client side.
func (h *hostLab) rawTCP(src netip.Addr, port uint16, seg layers.TCP, n int) {
	h.t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: src.AsSlice(), DstIP: h.serverV4.AsSlice()}
	seg.SrcPort, seg.DstPort, seg.Window = 40000, layers.TCPPort(port), 1024
	seg.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ip, &seg); err != nil {
		h.t.Fatal(err)
	}
	var err error
	inNS(h.t, h.clientNS, func() {
		var fd int
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW); err != nil {
			return
		}
		defer unix.Close(fd)
		to := &unix.SockaddrInet4{Addr: h.serverV4.As4()}
		for i := 0; i < n && err == nil; i++ {
			err = unix.Sendto(fd, buf.Bytes(), 0, to)
		}
	})
	if err != nil {
		h.t.Fatalf("send raw TCP from %s: %v", src, err)
	}
}

// ctEntries is the number of flows `ct stats` reports.
func (h *hostLab) ctEntries() int {
	h.t.Helper()
	var st struct {
		Entries *int `json:"entries"`
	}
	out := h.mustCLI("ct", "stats", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Entries == nil {
		h.t.Fatalf("ct stats --json: %v, no entries in %s", err, out)
	}
	return *st.Entries
}

// dhcpServer is a socket on the DHCP server port in the client namespace.
func (h *hostLab) dhcpServer() *net.UDPConn {
	return h.udpIn(h.clientNS, netip.AddrPortFrom(h.clientV4, 67))
}

// dhcpClient is the host's DHCP client socket: port 68 on every address,
// allowed to broadcast out of the veth, as a DHCP client's is.
func (h *hostLab) dhcpClient() *net.UDPConn {
	h.t.Helper()
	var (
		pc  net.PacketConn
		err error
	)
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr == nil {
				serr = unix.BindToDevice(int(fd), serverIf)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	inNS(h.t, h.serverNS, func() { pc, err = lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:68") })
	if err != nil {
		h.t.Fatalf("open the host's DHCP client socket: %v", err)
	}
	h.t.Cleanup(func() { pc.Close() })
	return pc.(*net.UDPConn)
}

// dhcpRequest broadcasts a (token) DHCP request from the host.
func (h *hostLab) dhcpRequest(c *net.UDPConn) {
	h.t.Helper()
	if _, err := c.WriteToUDPAddrPort([]byte("discover"), netip.MustParseAddrPort("255.255.255.255:67")); err != nil {
		h.t.Fatalf("broadcast a DHCP request: %v", err)
	}
}

// dhcpReply sends a reply from the server port to the host's client port
// and reports whether it arrived.
func (h *hostLab) dhcpReply(server, client *net.UDPConn, token string) bool {
	h.t.Helper()
	tok := h.token(token)
	if _, err := server.WriteToUDPAddrPort([]byte(tok), netip.AddrPortFrom(h.serverV4, 68)); err != nil {
		h.t.Fatalf("send a DHCP reply: %v", err)
	}
	return h.recvUDP(client, tok, 1, time.Second) == 1
}
