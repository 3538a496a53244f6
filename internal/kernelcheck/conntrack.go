package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/pkg/kernel"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// The host firewall of the conntrack check: policy drop, and only the
// replies to what this host started let in.
const hostFirewall = `policy: drop
rules:
  - {ct-state: "established,related", action: pass}
`

// shortUDPTimeouts, added to hostFirewall, times UDP flows out after a
// second, for the sweep.
const shortUDPTimeouts = `conntrack:
  timeouts: {udp: 1s, udp-replied: 1s}
`

// checkConntrack: on this kernel, the egress learner is on the attached
// veth by the hook the kernel has (clsact before 6.6, tcx after), and a
// host with policy drop gets the reply to a datagram it sent, while the
// same datagram from another port is dropped. The veth's own address
// sends; its peer answers with frames written on it. Then, under
// timeouts of a second, ct sweep removes the flow once idle: the sweep
// program loads and runs on this kernel.
func checkConntrack(r *runner, x *xdpfw, p pair) {
	r.check("conntrack", func() (string, error) {
		hook, err := egressHook(x, p.dev)
		if err != nil {
			return "", err
		}
		if _, err := x.run("apply", "-f", writeTemp("hostfw.yaml", hostFirewall)); err != nil {
			return "", err
		}
		local, remote := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("10.77.0.2")
		dev, peer, err := addressPair(p, local, remote)
		if err != nil {
			return "", err
		}
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
		if err != nil {
			return "", err
		}
		defer c.Close()
		lport := uint16(c.LocalAddr().(*net.UDPAddr).Port)
		// Before the host sends, the reply is unsolicited.
		s, err := newSender(p.peer)
		if err != nil {
			return "", err
		}
		defer s.close()
		answer := func(sport uint16, payload string) (bool, error) {
			f, err := udpFrame(peer.Attrs().HardwareAddr, dev.Attrs().HardwareAddr, remote, local, sport, lport, payload)
			if err != nil {
				return false, err
			}
			if _, err := s.send(f); err != nil {
				return false, err
			}
			return received(c, payload, 500*time.Millisecond), nil
		}
		if got, err := answer(5000, "early"); err != nil || got {
			return "", errors.Join(err, errorIf(got, "an answer before the host sent anything arrived"))
		}
		if _, err := c.WriteToUDPAddrPort([]byte("query"), netip.AddrPortFrom(remote, 5000)); err != nil {
			return "", fmt.Errorf("send from the host: %w", err)
		}
		if got, err := answer(5000, "reply"); err != nil || !got {
			return "", errors.Join(err, errorIf(!got, "the reply to the host's own datagram was dropped"))
		}
		if got, err := answer(5001, "other"); err != nil || got {
			return "", errors.Join(err, errorIf(got, "a datagram from a port the host never sent to arrived"))
		}
		var flows []loader.Flow
		if err := x.runJSON(&flows, "ct", "list", "--port", fmt.Sprint(lport)); err != nil {
			return "", err
		}
		if len(flows) != 1 || flows[0].Remote != remote || flows[0].RemotePort != 5000 {
			return "", fmt.Errorf("ct list shows %+v, want the one flow to %s:5000", flows, remote)
		}
		// The sweep program runs on this kernel: under timeouts of a
		// second the flow, idle since, is swept.
		if _, err := x.run("apply", "-f", writeTemp("hostfw-short.yaml", hostFirewall+shortUDPTimeouts)); err != nil {
			return "", err
		}
		time.Sleep(1500 * time.Millisecond)
		var swept loader.SweepResult
		if err := x.runJSON(&swept, "ct", "sweep"); err != nil {
			return "", err
		}
		if swept.Expired < 1 {
			return "", fmt.Errorf("ct sweep removed %+v, want the flow idle past its 1s timeout", swept)
		}
		return fmt.Sprintf("egress learner on %s; the reply passed, the unsolicited datagrams dropped; the idle flow swept", hook), nil
	})
}

// egressHook is the hook status reports for dev's egress learner, which
// must be the one this kernel has.
func egressHook(x *xdpfw, dev string) (string, error) {
	st, err := x.status()
	if err != nil {
		return "", err
	}
	rel, err := kernel.Release()
	if err != nil {
		return "", err
	}
	v, err := kernel.ParseRelease(rel)
	if err != nil {
		return "", err
	}
	want := loader.EgressTCX
	if v.Less(kernel.Version{Major: 6, Minor: 6}) {
		want = loader.EgressClsact
	}
	for _, a := range st.Interfaces {
		if a.Iface == dev {
			if a.Egress != want {
				return "", fmt.Errorf("%s's egress learner is on %q, want %s on this kernel", dev, a.Egress, want)
			}
			return a.Egress, nil
		}
	}
	return "", fmt.Errorf("status lists no %s", dev)
}

// addressPair gives dev the local address and a permanent neighbour
// entry for remote at the peer's MAC, so the host's datagrams leave by
// dev without ARP.
func addressPair(p pair, local, remote netip.Addr) (dev, peer netlink.Link, err error) {
	if dev, err = netlink.LinkByName(p.dev); err != nil {
		return nil, nil, err
	}
	if peer, err = netlink.LinkByName(p.peer); err != nil {
		return nil, nil, err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: local.AsSlice(), Mask: net.CIDRMask(24, 32)}}
	if err := netlink.AddrReplace(dev, addr); err != nil {
		return nil, nil, fmt.Errorf("address %s on %s: %w", local, p.dev, err)
	}
	n := &netlink.Neigh{LinkIndex: dev.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
		IP: remote.AsSlice(), HardwareAddr: peer.Attrs().HardwareAddr}
	if err := netlink.NeighSet(n); err != nil {
		return nil, nil, fmt.Errorf("neighbour %s on %s: %w", remote, p.dev, err)
	}
	return dev, peer, nil
}

func udpFrame(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, sport, dport uint16, payload string) ([]byte, error) {
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, eth, ip, udp, gopacket.Payload(payload))
	return buf.Bytes(), err
}

// received reports whether payload reaches c within wait.
func received(c *net.UDPConn, payload string, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	b := make([]byte, 2048)
	for {
		n, _, err := c.ReadFromUDPAddrPort(b)
		if err != nil {
			return false
		}
		if bytes.Equal(b[:n], []byte(payload)) {
			return true
		}
	}
}

func errorIf(cond bool, msg string) error {
	if cond {
		return errors.New(msg)
	}
	return nil
}

// writeTemp writes a file under the temporary directory and returns its
// path (the VM is throwaway).
func writeTemp(name, content string) string {
	path := filepath.Join(os.TempDir(), name)
	os.WriteFile(path, []byte(content), 0o644)
	return path
}
