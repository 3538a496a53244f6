package perf

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Holder keeps programs attached (native XDP) to veth interfaces in a
// throwaway network namespace.
//
// Why: BPF_PROG_TEST_RUN with repeat > 1 makes the kernel switch the XDP
// dispatcher (the direct-call trampoline of native XDP) to the program and
// back around the run, and each switch waits for an RCU grace period:
// about 17 ms per call on the development VM, 4096 frames a minute. A
// program that is attached somewhere already has its dispatcher slot, so
// the switch is a reference count and a repeated run costs only the runs.
type Holder struct {
	ns     netns.NsHandle
	h      *netlink.Handle
	nextID int
}

// NewHolder creates the namespace; Close removes it with everything in it.
func NewHolder() (*Holder, error) {
	ns, err := NewNetns()
	if err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netlink in a new namespace: %w", err)
	}
	return &Holder{ns: ns, h: h}, nil
}

// Hold attaches prog to a veth of its own.
func (ho *Holder) Hold(prog *ebpf.Program) error {
	name := fmt.Sprintf("hold%d", ho.nextID)
	ho.nextID++
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	if err := ho.h.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", name, err)
	}
	link, err := ho.h.LinkByName(name)
	if err != nil {
		return err
	}
	// netlink.Handle cannot attach XDP, so the attach runs in the namespace.
	return InNetns(ho.ns, func() error {
		if err := netlink.LinkSetXdpFdWithFlags(link, prog.FD(), unix.XDP_FLAGS_DRV_MODE); err != nil {
			return fmt.Errorf("attach to %s: %w", name, err)
		}
		return nil
	})
}

// Close deletes the namespace, which detaches every program held.
func (ho *Holder) Close() error {
	ho.h.Close()
	return ho.ns.Close()
}
