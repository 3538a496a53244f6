package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// A lab is two fresh network namespaces joined by a veth pair: "vc" in
// the client namespace, "vs" (where xdpfw is attached) in the server one.
// Everything it creates is removed in t.Cleanup, pass or fail.
type lab struct {
	t      *testing.T
	pinDir string

	clientName, serverName string
	clientNS, serverNS     netns.NsHandle
	hc, hs                 *netlink.Handle // netlink in the client / server namespace

	clientV4, serverV4 netip.Addr
	clientV6, serverV6 netip.Addr

	seq int // makes every probe's payload unique
}

const (
	clientIf = "vc"
	serverIf = "vs"
)

// newLab builds the lab; the caller has already called privtest.Require.
func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{t: t, pinDir: privtest.PinDir(t)}

	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprintf("%x", rnd)
	x := 1 + rnd[0]%250 // 10.99.x.0/24 and fdxx::/64
	l.clientName = fmt.Sprintf("xdpfw-e2e-%d-%s-c", os.Getpid(), suffix)
	l.serverName = fmt.Sprintf("xdpfw-e2e-%d-%s-s", os.Getpid(), suffix)
	l.clientV4 = netip.AddrFrom4([4]byte{10, 99, x, 1})
	l.serverV4 = netip.AddrFrom4([4]byte{10, 99, x, 2})
	l.clientV6 = netip.MustParseAddr(fmt.Sprintf("fd%02x::1", x))
	l.serverV6 = netip.MustParseAddr(fmt.Sprintf("fd%02x::2", x))

	l.clientNS = newNamedNS(t, l.clientName)
	l.serverNS = newNamedNS(t, l.serverName)
	var err error
	if l.hc, err = netlink.NewHandleAt(l.clientNS); err != nil {
		t.Fatalf("netlink handle in %s: %v", l.clientName, err)
	}
	t.Cleanup(l.hc.Close)
	if l.hs, err = netlink.NewHandleAt(l.serverNS); err != nil {
		t.Fatalf("netlink handle in %s: %v", l.serverName, err)
	}
	t.Cleanup(l.hs.Close)
	// Runs first: xdpfw off the interface and its pins gone, whatever
	// state the test left (an error just means nothing was attached).
	t.Cleanup(func() {
		if out, err := l.cli("detach", "--all"); err != nil && !strings.Contains(err.Error(), "not attached") {
			t.Logf("cleanup: detach --all: %v (%s)", err, out)
		}
	})

	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: clientIf},
		PeerName:      serverIf,
		PeerNamespace: netlink.NsFd(int(l.serverNS)),
	}
	if err := l.hc.LinkAdd(veth); err != nil {
		t.Fatalf("create veth pair: %v", err)
	}
	vc, vs := l.link(l.hc, clientIf), l.link(l.hs, serverIf)
	for _, side := range []struct {
		h      *netlink.Handle
		link   netlink.Link
		v4, v6 netip.Addr
	}{{l.hc, vc, l.clientV4, l.clientV6}, {l.hs, vs, l.serverV4, l.serverV6}} {
		if err := side.h.LinkSetUp(l.link(side.h, "lo")); err != nil {
			t.Fatalf("lo up: %v", err)
		}
		if err := side.h.LinkSetUp(side.link); err != nil {
			t.Fatalf("%s up: %v", side.link.Attrs().Name, err)
		}
		for _, a := range []struct {
			ip    netip.Addr
			bits  int
			flags int
		}{{side.v4, 24, 0}, {side.v6, 64, unix.IFA_F_NODAD}} {
			addr := &netlink.Addr{
				IPNet: &net.IPNet{IP: a.ip.AsSlice(), Mask: net.CIDRMask(a.bits, a.ip.BitLen())},
				Flags: a.flags,
			}
			if err := side.h.AddrAdd(side.link, addr); err != nil {
				t.Fatalf("add %s to %s: %v", addr, side.link.Attrs().Name, err)
			}
		}
	}
	// IPv6 addresses can be bound once they are not tentative; with
	// NODAD that is at once, but do not rely on it.
	l.waitFor(3*time.Second, "IPv6 addresses usable", func() bool {
		return l.v6Ready(l.hc, vc, l.clientV6) && l.v6Ready(l.hs, vs, l.serverV6)
	})
	return l
}

func (l *lab) link(h *netlink.Handle, name string) netlink.Link {
	l.t.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		l.t.Fatalf("link %s: %v", name, err)
	}
	return link
}

func (l *lab) v6Ready(h *netlink.Handle, link netlink.Link, ip netip.Addr) bool {
	addrs, err := h.AddrList(link, netlink.FAMILY_V6)
	if err != nil {
		l.t.Fatalf("list addresses: %v", err)
	}
	for _, a := range addrs {
		if got, _ := netip.AddrFromSlice(a.IP); got == ip {
			return a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0
		}
	}
	return false
}

// waitFor polls cond every 10ms until it holds or d has passed.
func (l *lab) waitFor(d time.Duration, what string, cond func() bool) {
	l.t.Helper()
	if !poll(d, cond) {
		l.t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// onThread runs fn on its own locked OS thread and then puts the thread
// back in its original network namespace. If that fails the thread stays
// locked, so the runtime ends it instead of reusing it in the wrong
// namespace. fn must not call t.Fatal (it runs on another goroutine).
func onThread(fn func() error) (err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		orig, e := netns.Get()
		if e != nil {
			runtime.UnlockOSThread()
			err = e
			return
		}
		defer orig.Close()
		err = fn()
		if e := netns.Set(orig); e != nil {
			err = errors.Join(err, fmt.Errorf("return to the original network namespace: %w", e))
			return
		}
		runtime.UnlockOSThread()
	}()
	<-done
	return err
}

// newNamedNS creates a named network namespace (netns.NewNamed moves the
// thread it runs on into it, hence onThread).
// newRandomNS is newNamedNS of a name of its own: prefix, this process's
// pid and random bytes, so tests running at once never share one.
func newRandomNS(t *testing.T, prefix string) (string, netns.NsHandle) {
	t.Helper()
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s-%d-%x", prefix, os.Getpid(), rnd)
	return name, newNamedNS(t, name)
}

func newNamedNS(t *testing.T, name string) netns.NsHandle {
	t.Helper()
	ns := netns.NsHandle(-1)
	err := onThread(func() (err error) {
		ns, err = netns.NewNamed(name)
		return err
	})
	t.Cleanup(func() {
		if ns.IsOpen() {
			ns.Close()
		}
		if err := netns.DeleteNamed(name); err != nil {
			os.Remove(filepath.Join("/run/netns", name))
		}
	})
	if err != nil {
		t.Fatalf("create network namespace %s: %v", name, err)
	}
	return ns
}

// inNS runs fn on a thread in network namespace ns and waits for it.
// Sockets fn opens belong to ns for good; netlink requests fn makes go to
// ns. Only the network namespace changes, so the host's bpffs (the pins)
// stays visible. fn must not call t.Fatal (it runs on another goroutine).
func inNS(t testing.TB, ns netns.NsHandle, fn func()) {
	t.Helper()
	err := onThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("enter network namespace: %w", err)
		}
		fn()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// cliMu serialises in-process CLI runs across parallel tests: urfave/cli
// keeps package-level flags (cli.HelpFlag) that every App.Run writes to.
var cliMu sync.Mutex

// cli runs the xdpfw CLI in-process, in the server namespace, on the
// lab's pin directory, and returns what it printed on stdout.
func (l *lab) cli(args ...string) (string, error) {
	l.t.Helper()
	var out, errOut bytes.Buffer
	var err error
	inNS(l.t, l.serverNS, func() {
		cliMu.Lock()
		defer cliMu.Unlock()
		app := newApp(&out, &errOut)
		err = app.Run(interspersed(app, append([]string{"xdpfw", "--pin-dir", l.pinDir}, args...)))
	})
	if errOut.Len() > 0 {
		l.t.Logf("xdpfw %s: stderr: %s", strings.Join(args, " "), strings.TrimSpace(errOut.String()))
	}
	return out.String(), err
}

// mustCLI is cli for commands that must succeed.
func (l *lab) mustCLI(args ...string) string {
	l.t.Helper()
	out, err := l.cli(args...)
	if err != nil {
		l.t.Fatalf("xdpfw %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// token returns a payload prefix no earlier probe used.
func (l *lab) token(what string) string {
	l.seq++
	return fmt.Sprintf("%s-%03d-", what, l.seq)
}

// serverUDP opens a UDP listener in the server namespace.
func (l *lab) serverUDP(ip netip.Addr, port uint16) *net.UDPConn {
	l.t.Helper()
	return l.udpIn(l.serverNS, netip.AddrPortFrom(ip, port))
}

// clientUDP opens an unconnected UDP socket in the client namespace (so
// ICMP errors never turn into write errors).
func (l *lab) clientUDP(ip netip.Addr) *net.UDPConn {
	l.t.Helper()
	return l.udpIn(l.clientNS, netip.AddrPortFrom(ip, 0))
}

func (l *lab) udpIn(ns netns.NsHandle, at netip.AddrPort) *net.UDPConn {
	l.t.Helper()
	var (
		c   *net.UDPConn
		err error
	)
	inNS(l.t, ns, func() { c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(at)) })
	if err != nil {
		l.t.Fatalf("listen udp %s: %v", at, err)
	}
	l.t.Cleanup(func() { c.Close() })
	return c
}

// sendUDP sends n datagrams with payloads token+index and returns the
// payload bytes sent.
func (l *lab) sendUDP(c *net.UDPConn, dst netip.AddrPort, token string, n int) int {
	l.t.Helper()
	total := 0
	for i := range n {
		p := fmt.Sprintf("%s%04d", token, i)
		if _, err := c.WriteToUDPAddrPort([]byte(p), dst); err != nil {
			l.t.Fatalf("send udp to %s: %v", dst, err)
		}
		total += len(p)
	}
	return total
}

// recvUDP counts datagrams starting with token that reach c within wait,
// returning early once it has seen want of them (want 0: wait it out).
func (l *lab) recvUDP(c *net.UDPConn, token string, want int, wait time.Duration) int {
	l.t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		l.t.Fatal(err)
	}
	buf := make([]byte, 2048)
	got := 0
	for want == 0 || got < want {
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			l.t.Fatalf("receive udp: %v", err)
		}
		if strings.HasPrefix(string(buf[:n]), token) {
			got++
		}
	}
	return got
}

// udpProbe sends n datagrams from client to the listener at dst and
// returns how many arrived: when they should all arrive it waits up to 2s
// for them, otherwise 300ms for any.
func (l *lab) udpProbe(from, to *net.UDPConn, dst netip.AddrPort, n int, expectArrive bool) int {
	l.t.Helper()
	tok := l.token(fmt.Sprintf("udp%d", dst.Port()))
	l.sendUDP(from, dst, tok, n)
	if expectArrive {
		return l.recvUDP(to, tok, n, 2*time.Second)
	}
	return l.recvUDP(to, tok, 0, 300*time.Millisecond)
}

// serverTCP opens a TCP listener on an ephemeral port in the server
// namespace that accepts and closes every connection.
func (l *lab) serverTCP() uint16 { return l.tcpListener(l.serverNS, l.serverV4, "") }

// tcpListener opens a TCP listener on an ephemeral port of ip in
// namespace ns that writes greeting to every connection it accepts and
// closes it; it is closed in t.Cleanup.
func (l *lab) tcpListener(ns netns.NsHandle, ip netip.Addr, greeting string) uint16 {
	l.t.Helper()
	var (
		ln  *net.TCPListener
		err error
	)
	inNS(l.t, ns, func() {
		ln, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	})
	if err != nil {
		l.t.Fatalf("listen tcp on %s: %v", ip, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(greeting))
			c.Close()
		}
	}()
	l.t.Cleanup(func() { ln.Close(); wg.Wait() })
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// dialTCP connects from the client namespace to the server's port,
// giving up after timeout.
func (l *lab) dialTCP(port uint16, timeout time.Duration) error {
	l.t.Helper()
	var err error
	inNS(l.t, l.clientNS, func() {
		d := net.Dialer{Timeout: timeout}
		var c net.Conn
		c, err = d.Dial("tcp4", netip.AddrPortFrom(l.serverV4, port).String())
		if err == nil {
			c.Close()
		}
	})
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// clientICMP opens a raw ICMP socket in the client namespace.
func (l *lab) clientICMP() net.PacketConn {
	l.t.Helper()
	var (
		pc  net.PacketConn
		err error
	)
	inNS(l.t, l.clientNS, func() { pc, err = net.ListenPacket("ip4:icmp", l.clientV4.String()) })
	if err != nil {
		l.t.Fatalf("open icmp socket: %v", err)
	}
	l.t.Cleanup(func() { pc.Close() })
	return pc
}

// ping sends one echo request to the server and reports whether the
// matching reply came back within wait.
func (l *lab) ping(pc net.PacketConn, wait time.Duration) bool {
	l.t.Helper()
	l.seq++
	id, seq := uint16(os.Getpid()), uint16(l.seq)
	req := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: id, Seq: seq}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, req, gopacket.Payload("xdpfw-e2e")); err != nil {
		l.t.Fatal(err)
	}
	if _, err := pc.WriteTo(buf.Bytes(), &net.IPAddr{IP: l.serverV4.AsSlice()}); err != nil {
		l.t.Fatalf("send echo request: %v", err)
	}
	if err := pc.SetReadDeadline(time.Now().Add(wait)); err != nil {
		l.t.Fatal(err)
	}
	b := make([]byte, 2048)
	for {
		n, _, err := pc.ReadFrom(b) // the IPv4 header is already stripped
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		if err != nil {
			l.t.Fatalf("receive echo reply: %v", err)
		}
		var rep layers.ICMPv4
		if rep.DecodeFromBytes(b[:n], gopacket.NilDecodeFeedback) != nil {
			continue
		}
		if rep.TypeCode.Type() == layers.ICMPv4TypeEchoReply && rep.Id == id && rep.Seq == seq {
			return true
		}
	}
}

// forgetNeighbor deletes the client's neighbour entry for ip, so the next
// packet to it needs ARP or neighbour discovery again.
func (l *lab) forgetNeighbor(ip netip.Addr) {
	l.t.Helper()
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	n := &netlink.Neigh{LinkIndex: l.link(l.hc, clientIf).Attrs().Index, Family: family, IP: ip.AsSlice()}
	if err := l.hc.NeighDel(n); err != nil && !errors.Is(err, unix.ENOENT) {
		l.t.Fatalf("delete neighbour %s: %v", ip, err)
	}
	if l.neighborResolved(ip) {
		l.t.Fatalf("neighbour %s still resolved after deleting it", ip)
	}
}

// neighborResolved reports whether the client has a valid link-layer
// address for ip (it got an ARP reply or neighbour advertisement).
func (l *lab) neighborResolved(ip netip.Addr) bool {
	l.t.Helper()
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	neighs, err := l.hc.NeighList(l.link(l.hc, clientIf).Attrs().Index, family)
	if err != nil {
		l.t.Fatalf("list neighbours: %v", err)
	}
	const valid = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE | netlink.NUD_PERMANENT
	for _, n := range neighs {
		if got, _ := netip.AddrFromSlice(n.IP); got.Unmap() == ip && n.State&valid != 0 && len(n.HardwareAddr) > 0 {
			return true
		}
	}
	return false
}

// serverXDPProg is the id of the XDP program on the server's veth, 0 if
// none.
func (l *lab) serverXDPProg() uint32 {
	l.t.Helper()
	x := l.link(l.hs, serverIf).Attrs().Xdp
	if x == nil {
		return 0
	}
	return x.ProgId
}
