// Package e2e measures end-to-end throughput: a generator in one network
// namespace sends many-flow traffic out of a veth with live-frames
// BPF_PROG_TEST_RUN, and the veth's peer in another namespace receives it
// through one receiver at a time (an XDP program, nftables, iptables).
// The receiver's interface counters say how many frames it processed.
package e2e

import (
	"fmt"
	"net"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/pkg/perf"
)

const genIf = "bgen"

// Lab is the two namespaces and the veth pair between them. Nothing in it
// has a name outside this process: closing it (or the process ending)
// removes the namespaces, the veth and every attachment and nft table.
type Lab struct {
	genNS, recvNS netns.NsHandle
	recvFile      *os.File // recvNS, passed as fd 3 to nsenter
	genIfindex    int
	recv          netlink.Link
	hr            *netlink.Handle
	recvIf        string // unique on the machine: names its NAPI thread
	RecvMAC       net.HardwareAddr
}

// NewLab builds the namespaces and the veth pair, both ends up, with GRO
// on the receiving end: a veth only accepts XDP_TX frames from its peer
// when it has an XDP program or GRO (its NAPI) enabled.
func NewLab() (_ *Lab, err error) {
	// Not the named result: returning nil would leave the deferred
	// Close nothing to close, and the namespaces behind.
	l := &Lab{genNS: netns.None(), recvNS: netns.None()}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	if l.genNS, err = perf.NewNetns(); err != nil {
		return nil, err
	}
	if l.recvNS, err = perf.NewNetns(); err != nil {
		return nil, err
	}
	var rnd [4]byte
	if _, err := unix.Getrandom(rnd[:], 0); err != nil {
		return nil, err
	}
	l.recvIf = fmt.Sprintf("r%x", rnd)
	if l.recvFile, err = perf.NetnsFile(l.recvNS); err != nil {
		return nil, err
	}
	hg, err := netlink.NewHandleAt(l.genNS)
	if err != nil {
		return nil, err
	}
	defer hg.Close()
	if l.hr, err = netlink.NewHandleAt(l.recvNS); err != nil {
		return nil, err
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: genIf}, PeerName: l.recvIf, PeerNamespace: netlink.NsFd(int(l.recvNS))}
	if err := hg.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("create veth: %w", err)
	}
	g, err := hg.LinkByName(genIf)
	if err != nil {
		return nil, err
	}
	if l.recv, err = l.hr.LinkByName(l.recvIf); err != nil {
		return nil, err
	}
	for _, up := range []func() error{func() error { return hg.LinkSetUp(g) }, func() error { return l.hr.LinkSetUp(l.recv) }} {
		if err := up(); err != nil {
			return nil, fmt.Errorf("set veth up: %w", err)
		}
	}
	l.genIfindex = g.Attrs().Index
	l.RecvMAC = l.recv.Attrs().HardwareAddr
	if err := l.Exec(nil, "ethtool", "-K", l.recvIf, "gro", "on"); err != nil {
		return nil, err
	}
	return l, nil
}

// Exec runs a command in the receiving namespace, with stdin if given.
func (l *Lab) Exec(stdin []byte, name string, args ...string) error {
	return perf.ExecIn(l.recvFile, nil, stdin, name, args...)
}

// Close removes everything the lab made.
func (l *Lab) Close() {
	if l.hr != nil {
		l.hr.Close()
	}
	if l.recvFile != nil {
		l.recvFile.Close()
	}
	for _, ns := range []netns.NsHandle{l.genNS, l.recvNS} {
		if ns.IsOpen() {
			ns.Close()
		}
	}
}
