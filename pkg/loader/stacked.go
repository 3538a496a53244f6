package loader

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

// Stacked interfaces: a VLAN, macvlan or ipvlan is above the interface it
// is made on, a bridge or bond above its ports. The kernel changes no XDP
// program of an interface (attach, replace, detach) while an interface
// above it has one ("Cannot attach when an upper device already has a
// program", EEXIST). So xdpfw on an interface and on one above it could
// never again replace the lower one's program: the next growth of the
// maps failed there, cut short, and every later change (detach too)
// failed finishing it. Attach refuses to make such a pair, and says why
// the kernel refuses the other order. Frames reach the interface above
// through the program below, which enforces the same ruleset.

// stackedKinds are the link types whose IFLA_LINK is the interface they
// sit on (a veth's is its peer, not below it).
var stackedKinds = map[string]bool{"vlan": true, "macvlan": true, "macvtap": true, "ipvlan": true, "ipvtap": true}

// isAbove reports whether up is directly above low.
func isAbove(up, low netlink.Link) bool {
	u, l := up.Attrs(), low.Attrs()
	return l.MasterIndex != 0 && l.MasterIndex == u.Index ||
		stackedKinds[up.Type()] && u.ParentIndex == l.Index && u.Index != l.Index
}

func xdpProgOf(l netlink.Link) uint32 {
	if x := l.Attrs().Xdp; x != nil {
		return x.ProgId
	}
	return 0
}

// stackedRefusal is why l cannot get this state's program: an interface
// above it runs another XDP program (the kernel refuses it now), or one
// directly above or below it runs this state's or is named in the same
// attach (also: ifindexes, true) too (the kernel would refuse the lower one's
// every later change); one of this state's that comes off first (also:
// false, a file listing it no more) counts as running none. Nil when
// none is. Asked only of an interface not
// running this state's program already: no pair is made.
func stackedRefusal(l netlink.Link, ids progIDs, also map[int]bool) error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	for _, o := range links {
		id := xdpProgOf(o)
		on, named := also[o.Attrs().Index]
		if named && !on && ids.ours(id) {
			id = 0 // comes off before l gets the program
		}
		both := ids.ours(id) || on
		switch {
		case isAbove(o, l) && both:
			return stackedPair(l, o)
		case isAbove(o, l) && id != 0:
			return fmt.Errorf("%s is below %s, which runs XDP program id %d: the kernel changes no XDP program of an interface while one above it has one; take that one off %s first", l.Attrs().Name, o.Attrs().Name, id, o.Attrs().Name)
		case isAbove(l, o) && both:
			return stackedPair(o, l)
		}
	}
	return nil
}

// stackedPair is the refusal of xdpfw on both low and up, above it.
func stackedPair(low, up netlink.Link) error {
	lo, u := low.Attrs().Name, up.Attrs().Name
	return fmt.Errorf("%s is above %s: xdpfw is not attached to both, as the kernel changes no XDP program of an interface while one above it has one, so %s's could not be replaced (a growth of the maps, a re-attach) or detached again; attach %s alone: frames reach %s through its program", u, lo, lo, lo, u)
}
