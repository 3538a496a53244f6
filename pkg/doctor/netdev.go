package doctor

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The netdev generic-netlink family (Linux 6.3 and later) reports which
// XDP features each device's driver implements. From
// include/uapi/linux/netdev.h, which golang.org/x/sys does not carry yet.
const (
	netdevFamily          = "netdev"
	netdevCmdDevGet       = 1 // NETDEV_CMD_DEV_GET
	netdevADevIfindex     = 1 // NETDEV_A_DEV_IFINDEX, u32
	netdevADevXDPFeatures = 3 // NETDEV_A_DEV_XDP_FEATURES, u64 of NETDEV_XDP_ACT_*

	xdpActBasic = 1 << 0 // NETDEV_XDP_ACT_BASIC: native XDP (pass, drop, tx)
	xdpActRxSG  = 1 << 5 // NETDEV_XDP_ACT_RX_SG: multi-buffer frames natively
)

// errNoNetdevFamily: a kernel before 6.3, which cannot say.
var errNoNetdevFamily = errors.New("the kernel has no netdev netlink family (Linux 6.3 and later)")

// xdpFeatures asks the kernel for the NETDEV_XDP_ACT_* bits of the device
// with index ifindex, in this thread's network namespace.
func xdpFeatures(ifindex int) (uint64, error) {
	fam, err := netlink.GenlFamilyGet(netdevFamily)
	if err != nil {
		return 0, errNoNetdevFamily
	}
	req := nl.NewNetlinkRequest(int(fam.ID), unix.NLM_F_ACK)
	req.AddData(genlHeader{netdevCmdDevGet, uint8(fam.Version)})
	req.AddData(nl.NewRtAttr(netdevADevIfindex, nl.Uint32Attr(uint32(ifindex))))
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	if err != nil {
		return 0, fmt.Errorf("netdev dev-get: %w", err)
	}
	for _, m := range msgs {
		attrs, err := nl.ParseRouteAttr(m[nl.SizeofGenlmsg:])
		if err != nil {
			return 0, fmt.Errorf("netdev dev-get reply: %w", err)
		}
		for _, a := range attrs {
			if a.Attr.Type == netdevADevXDPFeatures && len(a.Value) == 8 {
				return binary.NativeEndian.Uint64(a.Value), nil
			}
		}
	}
	return 0, errors.New("netdev dev-get reply without xdp-features")
}

// genlHeader is struct genlmsghdr with its reserved bytes zero (nl.Genlmsg
// is two bytes serialized as four, whatever follows it in memory).
type genlHeader struct{ cmd, version uint8 }

func (h genlHeader) Len() int          { return nl.SizeofGenlmsg }
func (h genlHeader) Serialize() []byte { return []byte{h.cmd, h.version, 0, 0} }
