package loader

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The object holds the datapath twice: xdpfw for frames in one buffer, and
// xdpfw_frags (SEC("xdp.frags")) for interfaces whose frames can span
// several. The kernel never hands a program without frags a multi-buffer
// frame, so the first takes the frame length from data_end - data instead
// of calling bpf_xdp_get_buff_len, which plain traffic would pay per packet
// (docs/design.md, Measurements). Both share every map.

// maxLinearFrame is the longest frame that fits one XDP buffer: a page less
// the XDP headroom (256 bytes) and the skb_shared_info the kernel keeps at
// the buffer's end (320 bytes, cache-aligned, on 64-bit kernels). That is
// 3520 bytes on 4 KiB pages, the bound BPF_PROG_TEST_RUN and veth put on
// programs without frags.
func maxLinearFrame() int { return os.Getpagesize() - 256 - 320 }

// NeedsFrags reports whether an interface with this MTU can receive frames
// longer than one buffer, so attach gives it the frags program.
func NeedsFrags(mtu int) bool { return mtu > MaxOneBufferMTU() }

// MaxOneBufferMTU is the largest MTU whose frames, with an Ethernet header
// and two VLAN tags, fit one buffer: 3498 on 4 KiB pages.
func MaxOneBufferMTU() int { return maxLinearFrame() - 14 - 2*4 }

// programFor picks from progs the program for an interface with this MTU.
func programFor(progs *xdpfwPrograms, mtu int) *ebpf.Program {
	if NeedsFrags(mtu) {
		return progs.XdpfwFrags
	}
	return progs.Xdpfw
}

// setProgram puts on link, with these flags, the program programFor picks
// by its MTU, or the frags one where the kernel refuses that one as too
// short for the frames the interface gets (ERANGE): a veth receives what
// its peer sends, so its native XDP takes only a frags program while the
// peer's MTU is larger than one buffer, whatever its own MTU (the peer may
// be in another namespace, out of sight). It returns the program put on.
//
// replacing, when not nil, is the program on link in the mode of flags:
// the kernel swaps it for the new one in one step (XDP_FLAGS_REPLACE), no
// frame passing without a program between, and refuses (EEXIST) if
// another is there instead, attached since the caller looked.
func setProgram(progs *xdpfwPrograms, link netlink.Link, flags int, replacing *ebpf.Program) (*ebpf.Program, error) {
	set := func(p *ebpf.Program) error {
		if replacing == nil {
			return netlink.LinkSetXdpFdWithFlags(link, p.FD(), flags)
		}
		return replaceXDP(link.Attrs().Index, p.FD(), replacing.FD(), flags)
	}
	prog := programFor(progs, link.Attrs().MTU)
	err := set(prog)
	if errors.Is(err, unix.ERANGE) && prog != progs.XdpfwFrags {
		prog = progs.XdpfwFrags
		err = set(prog)
	}
	return prog, err
}

// keepsFrags reports whether link, running xdpfw's frags program in mode
// m, keeps it when its program is swapped in place (a growth, a
// migration), whatever its MTU: a veth bounds its peer's MTU when its
// first XDP program goes on in native mode, by that program's frags, and
// a swap in place leaves the bound as it was. The one-buffer program put
// in place of the frags one would then be handed frames of several
// buffers once the peer's MTU went above one buffer, as the kernel lets
// it (seeing its data_end short of the frame's end, on Linux 6.18).
func keepsFrags(link netlink.Link, m Mode) bool {
	return m == ModeNative && link.Type() == "veth"
}

// replaceXDP puts program fd on ifindex's XDP hook in place of program
// expected (XDP_FLAGS_REPLACE with IFLA_XDP_EXPECTED_FD, Linux 5.7, which
// netlink's LinkSetXdpFdWithFlags cannot send).
func replaceXDP(ifindex, fd, expected, flags int) error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(ifindex)
	req.AddData(msg)
	attrs := nl.NewRtAttr(unix.IFLA_XDP|unix.NLA_F_NESTED, nil)
	attrs.AddRtAttr(nl.IFLA_XDP_FD, nl.Uint32Attr(uint32(fd)))
	attrs.AddRtAttr(nl.IFLA_XDP_FLAGS, nl.Uint32Attr(uint32(flags|unix.XDP_FLAGS_REPLACE)))
	attrs.AddRtAttr(unix.IFLA_XDP_EXPECTED_FD, nl.Uint32Attr(uint32(expected)))
	req.AddData(attrs)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// progIDs are the kernel ids of xdpfw's two programs: an interface whose
// XDP program has either id is xdpfw's.
type progIDs struct{ plain, frags uint32 }

func (ids progIDs) ours(id uint32) bool {
	return id != 0 && (id == ids.plain || id == ids.frags)
}

func progIDsOf(progs *xdpfwPrograms) (progIDs, error) {
	plain, err := progID(progs.Xdpfw)
	if err != nil {
		return progIDs{}, err
	}
	frags, err := progID(progs.XdpfwFrags)
	if err != nil {
		return progIDs{}, err
	}
	return progIDs{plain: plain, frags: frags}, nil
}

// progID is p's id in the kernel: fdinfoProgID, one small read, where
// Info fetches and decodes all the program's info (about 2 ms each for
// xdpfw's, most of what status spent on them); Info where fdinfo lacks
// the line.
func progID(p *ebpf.Program) (uint32, error) {
	if id, ok := fdinfoProgID(p.FD()); ok {
		return id, nil
	}
	info, err := p.Info()
	if err != nil {
		return 0, fmt.Errorf("program info: %w", err)
	}
	id, _ := info.ID()
	return uint32(id), nil
}

// fdinfoProgID is the prog_id line of a program descriptor's fdinfo.
func fdinfoProgID(fd int) (uint32, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "prog_id:"); ok {
			id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			return uint32(id), err == nil && id != 0
		}
	}
	return 0, false
}
