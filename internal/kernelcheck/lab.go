package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// pair is a veth pair: xdpfw attaches to dev, frames are sent on peer and
// arrive on dev.
type pair struct {
	dev, peer string
	mtu       int
}

// lab holds the VM's veth pairs: one per attach mode, and one at MTU 9000
// for the multi-buffer (frags) program. All share one pin directory, so
// the program is loaded (and verified: slow under TCG) once.
type lab struct {
	native, generic, frags pair
}

func newLab() (*lab, error) {
	// Without IPv6 the kernel sends nothing of its own on the veths
	// (router solicitations, MLD, DAD), so the only frames xdpfw counts
	// are the ones sent here. The VM is throwaway: no need to restore.
	for _, conf := range []string{"all", "default"} {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+conf+"/disable_ipv6", []byte("1"), 0); err != nil {
			return nil, fmt.Errorf("disable IPv6: %w", err)
		}
	}
	l := &lab{
		native:  pair{"kn0", "kn1", 1500},
		generic: pair{"kg0", "kg1", 1500},
		frags:   pair{"kf0", "kf1", 9000},
	}
	for _, p := range []pair{l.native, l.generic, l.frags} {
		if err := p.create(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (p pair) create() error {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p.dev}, PeerName: p.peer}
	if err := netlink.LinkAdd(veth); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create veth %s/%s: %w", p.dev, p.peer, err)
	}
	for _, name := range []string{p.dev, p.peer} {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetMTU(link, p.mtu); err != nil {
			return fmt.Errorf("%s: set MTU %d: %w", name, p.mtu, err)
		}
		if err := netlink.LinkSetUp(link); err != nil {
			return fmt.Errorf("%s up: %w", name, err)
		}
	}
	return nil
}

// xdpProg is the id of the XDP program on dev as the kernel reports it
// (0: none).
func xdpProg(dev string) (uint32, error) {
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return 0, err
	}
	if x := link.Attrs().Xdp; x != nil && x.Attached {
		return x.ProgId, nil
	}
	return 0, nil
}

// sender writes raw Ethernet frames on one interface.
type sender struct {
	fd int
	sa unix.SockaddrLinklayer
}

func newSender(dev string) (*sender, error) {
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return nil, err
	}
	// Protocol 0: the socket only sends, it receives nothing.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	return &sender{fd: fd, sa: unix.SockaddrLinklayer{Ifindex: link.Attrs().Index, Halen: 6}}, nil
}

func (s *sender) close() { unix.Close(s.fd) }

// send writes one frame. It reports false, with no error, when the kernel
// refuses the frame before it reaches the wire: longer than the MTU
// allows (EMSGSIZE) or shorter than an Ethernet header (EINVAL). Such a
// frame never reaches XDP and is left out of the expectations.
func (s *sender) send(frame []byte) (bool, error) {
	if len(frame) < 14 {
		return false, nil
	}
	err := unix.Sendto(s.fd, frame, 0, &s.sa)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EMSGSIZE), errors.Is(err, unix.EINVAL):
		return false, nil
	}
	return false, err
}

// poll calls cond every 20ms until it holds or d has passed.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
