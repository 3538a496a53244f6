package loader

import (
	"fmt"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestReachLeavesOutVanished: an interface deleted while a replacement
// of the state's programs runs (after it read the interfaces, before it
// gave them the new programs) is not counted among those it found: the
// notice said the program replaced on 1 of the 2 interfaces, the others
// left as they are, of one no LeftNotice named (it was gone, not left).
func TestReachLeavesOutVanished(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "rva0", "rva1")
		if err != nil {
			return err
		}
		defer s.Close()
		var left, reaches []string
		LeftNotice = func(_, iface string, prog uint32) { left = append(left, fmt.Sprintf("%s:%d", iface, prog)) }
		defer func() { LeftNotice = nil }()
		CTResizeNotice = func(d string, _, _ uint32, _ int, r Reach) {
			if d == dir {
				reaches = append(reaches, fmt.Sprintf("%d/%d", r.On, r.Of))
			}
		}
		defer func() { CTResizeNotice = nil }()
		stopChangesAt(s, func(point string) {
			if point == "ctresize:programs" {
				if err := delLink("rva1"); err != nil {
					t.Error(err)
				}
			}
		})
		defer stopChangesAt(s, nil)
		if _, err := s.Apply(ctRuleset(t, "conntrack:\n  max-flows: 8192\n")); err != nil {
			return err
		}
		if got, want := fmt.Sprint(reaches), "[1/1]"; got != want {
			t.Errorf("the resize's notice counted %s, want %s: rva1 went, it was not left", got, want)
		}
		if len(left) != 0 {
			t.Errorf("LeftNotice told %v, want nothing", left)
		}
		return nil
	})
}
