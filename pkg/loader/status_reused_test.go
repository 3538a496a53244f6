package loader

import (
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestStatusIfindexReused: a record whose interface is gone, its ifindex
// given to a new interface since, is missing, named as recorded, with
// detach --ifindex to forget it: status took the new interface for the
// recorded one renamed, its program replaced, and said to attach it
// with --force.
func TestStatusIfindexReused(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "sri0", "sri1")
		if err != nil {
			return err
		}
		defer s.Close()
		gone := linkNamed(t, "sri0")
		idx := gone.Attrs().Index
		if err := netlink.LinkDel(gone); err != nil {
			return err
		}
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "sri2", Index: idx}, PeerName: "sri2p"}); err != nil {
			return fmt.Errorf("add veth sri2 at ifindex %d: %w", idx, err)
		}
		if got := linkNamed(t, "sri2").Attrs().Index; got != idx {
			return fmt.Errorf("sri2 made at ifindex %d, want %d", got, idx)
		}
		st, err := s.Status()
		if err != nil {
			return err
		}
		fix := fmt.Sprintf("xdpfw detach --ifindex %d", idx)
		if len(st.Problems) != 1 || st.Problems[0].Kind != "missing" || st.Problems[0].Iface != "sri0" || st.Problems[0].Fix != fix {
			t.Errorf("status problems: %+v, want sri0 missing, fixed by %s", st.Problems, fix)
		}
		for _, a := range st.Interfaces {
			if a.Ifindex == idx && (a.Iface != "sri0" || a.Attached) {
				t.Errorf("status lists %+v at ifindex %d, want the record of sri0, not attached", a, idx)
			}
		}
		if rec, _, err := s.DetachIfindex(idx); err != nil {
			return fmt.Errorf("detach --ifindex %d: %+v, %v", idx, rec, err)
		}
		if st, err = s.Status(); err != nil || len(st.Problems) != 0 || len(st.Interfaces) != 1 {
			t.Errorf("status after forgetting the record: %+v, %v; want sri1 alone, no problem", st, err)
		}
		return nil
	})
}
