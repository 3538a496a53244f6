package loader

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// An XDP program attached through a BPF link (cilium/ebpf's
// link.AttachXDP, libbpf's bpf_link_create: Cilium and other daemons)
// belongs to whoever holds the link: the kernel refuses to replace or
// remove it by netlink, which is how attach changes XDP programs (EBUSY,
// "Can't replace active BPF XDP link"). So attach refuses such an
// interface up front, --force or not, naming the link and its owner's
// part: --force could only fail ("device or resource busy").

// xdpLinkOf returns the BPF link holding program prog on ifindex's XDP
// hook, if a link holds it. Links are listed only when an interface
// runs another's program, so the walk costs nothing otherwise.
func xdpLinkOf(ifindex int, prog uint32) (link.ID, bool) {
	var it link.Iterator
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil || info.Type != link.XDPType || info.Program != ebpf.ProgramID(prog) {
			continue
		}
		if x := info.XDP(); x != nil && int(x.Ifindex) == ifindex {
			return it.ID, true
		}
	}
	return 0, false
}

// heldByLink is the refusal of an interface whose XDP program (not
// xdpfw's) a BPF link holds; nil when no link holds it.
func heldByLink(name string, ifindex int, prog uint32) error {
	id, ok := xdpLinkOf(ifindex, prog)
	if !ok {
		return nil
	}
	return fmt.Errorf("%s already has XDP program id %d, not xdpfw's, attached by BPF link id %d, which only its owner can remove (--force does not replace it): detach it with the tool that attached it (or bpftool link detach id %d), then attach", name, prog, id, id)
}
