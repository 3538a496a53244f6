package doctor

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

// Interface is what attach would make of one interface.
type Interface struct {
	Name   string `json:"name"`
	Driver string `json:"driver"`
	MTU    int    `json:"mtu"`
	// PeerMTU is a veth's peer's MTU, 0 for other interfaces or a peer
	// out of sight: the veth receives the peer's frames.
	PeerMTU int `json:"peer_mtu,omitempty"`
	// Program is the program attach gives it: xdpfw (frames in one
	// buffer) or xdpfw_frags (MTU, or a veth peer's, above
	// loader.MaxOneBufferMTU).
	Program string `json:"program"`
	// NativeXDP is yes, no or unknown; Source says who said so.
	NativeXDP string `json:"native_xdp"`
	Source    string `json:"source,omitempty"`
	Finding
}

// checkInterfaces examines the named interfaces, or every one but
// loopback. A name that does not exist is a failed check, not an error.
func checkInterfaces(names []string) ([]Interface, error) {
	if len(names) == 0 {
		links, err := netlink.LinkList()
		if err != nil {
			return nil, fmt.Errorf("list interfaces: %w", err)
		}
		var out []Interface
		for _, l := range links {
			if l.Attrs().Flags&net.FlagLoopback == 0 {
				out = append(out, checkLink(l))
			}
		}
		return out, nil
	}
	var out []Interface
	for _, name := range names {
		l, err := netlink.LinkByName(name)
		if err != nil {
			out = append(out, Interface{Name: name, Finding: Finding{Fail, "no such interface in this network namespace"}})
			continue
		}
		i := checkLink(l)
		if loader.EthernetOnly(l) != nil {
			// Named, it is one xdpfw is meant to run on, and cannot:
			// a fail, as for a name that does not exist, so a check
			// before a deploy stops there. Among all it stays a
			// warning: a host's WireGuard or tun device is no
			// interface to attach to, not a fault of the host.
			i.Verdict = Fail
		}
		out = append(out, i)
	}
	return out, nil
}

func checkLink(l netlink.Link) Interface {
	a := l.Attrs()
	i := Interface{Name: a.Name, Driver: driver(a.Name), MTU: a.MTU, Program: "xdpfw", NativeXDP: "unknown"}
	i.PeerMTU = vethPeerMTU(l)
	// A veth's native XDP takes only the frags program while its peer's
	// MTU is above one buffer, whatever its own: attach gives it that.
	frags := loader.NeedsFrags(a.MTU) || loader.NeedsFrags(i.PeerMTU)
	if frags {
		i.Program = "xdpfw_frags"
	}
	mtu := fmt.Sprint(i.MTU)
	if i.PeerMTU != 0 && i.PeerMTU != i.MTU {
		mtu += fmt.Sprintf(" (its veth peer's %d)", i.PeerMTU)
	}
	where := fmt.Sprintf("driver %s, MTU %s: %s", i.Driver, mtu, programNote(frags))

	feats, err := xdpFeatures(a.Index)
	switch {
	case err == nil:
		i.Source = "the driver (netdev netlink)"
		i.NativeXDP = "no"
		if feats&xdpActBasic != 0 {
			i.NativeXDP = "yes"
		}
		switch {
		case i.NativeXDP == "no":
			i.Finding = Finding{Warn, where + "; no native XDP in this driver: attach runs in generic mode (in the stack, slower)"}
		case frags && feats&xdpActRxSG == 0:
			i.Finding = Finding{Warn, fmt.Sprintf("%s; the driver has native XDP but not for multi-buffer frames: attach falls back to generic mode unless the MTU is %d or less", where, loader.MaxOneBufferMTU())}
		default:
			i.Finding = Finding{OK, where + "; native XDP (the driver reports it)"}
		}
	case nativeDrivers[i.Driver]:
		i.NativeXDP, i.Source = "yes", "xdpfw's list of drivers with native XDP"
		i.Finding = Finding{OK, where + "; native XDP (a known driver)"}
	default:
		i.Finding = Finding{Warn, where + "; native XDP unknown for this driver: attach tries native and falls back to generic mode with a warning"}
	}
	if err := loader.EthernetOnly(l); err != nil {
		i.Finding = Finding{Warn, "attach refuses it: " + err.Error()}
	}
	return i
}

// vethPeerMTU is the MTU of l's peer if l is a veth, read where the
// peer is, in this network namespace or another (IFLA_TARGET_NETNSID,
// the id l's link-netnsid gives it); 0 if l is no veth or it cannot be.
func vethPeerMTU(l netlink.Link) int {
	a := l.Attrs()
	if l.Type() != "veth" || a.ParentIndex == 0 {
		return 0
	}
	if a.NetNsID < 0 {
		peer, err := netlink.LinkByIndex(a.ParentIndex)
		if err != nil {
			return 0
		}
		return peer.Attrs().MTU
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(a.ParentIndex)
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_TARGET_NETNSID, nl.Uint32Attr(uint32(a.NetNsID))))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil || len(msgs) != 1 {
		return 0
	}
	peer, err := netlink.LinkDeserialize(nil, msgs[0])
	if err != nil {
		return 0
	}
	return peer.Attrs().MTU
}

func programNote(frags bool) string {
	if frags {
		return "program xdpfw_frags (multi-buffer)"
	}
	return "program xdpfw (one buffer)"
}

// driver names the interface's driver as ethtool -i does, else from
// sysfs, else "-" (virtual devices without one).
func driver(name string) string {
	if fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err == nil {
		defer unix.Close(fd)
		if info, err := unix.IoctlGetEthtoolDrvinfo(fd, name); err == nil {
			if d := unix.ByteSliceToString(info.Driver[:]); d != "" {
				return d
			}
		}
	}
	if target, err := os.Readlink(filepath.Join("/sys/class/net", name, "device/driver")); err == nil {
		return filepath.Base(target)
	}
	return "-"
}
