package loader

import (
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestDetachAfterCutShortResize: a rule change that resizes the conntrack
// table (a ct-state rule onto a ruleset without one), cut short, then a
// detach of one of two interfaces. The detach finished the replacement
// only once the interface's program was off, in the change forgetting its
// record: the replacement then told the operator the interface "runs no
// XDP program ... xdpfw not filtering there" (LeftNotice), of the one
// being detached. Cut after the programs' pins were replaced, worse: the
// interface ran the program the resize began with, which no pin holds,
// so the detach took it for another's and left it, and the replacement
// then gave it the new one: detached, it went on filtering, its record
// gone (an orphan).
func TestDetachAfterCutShortResize(t *testing.T) {
	for _, point := range []string{"ctresize:marked", "ctresize:maps", "ctresize:programs"} {
		t.Run("cut at "+point, func(t *testing.T) {
			dir := privtest.PinDir(t)
			inThrowawayNetns(t, func() error {
				defer removeState(dir)
				s, err := attachedState(dir, "dcr0", "dcr1")
				if err != nil {
					return err
				}
				defer func() { s.Close() }()
				cutShort(t, s, point, func(func(int, int)) { s.Apply(ctRuleset(t, "")) })
				s.Close()
				if s, err = Open(dir); err != nil {
					return err
				}
				var left []string
				LeftNotice = func(_, iface string, prog uint32) { left = append(left, fmt.Sprintf("%s:%d", iface, prog)) }
				defer func() { LeftNotice = nil }()
				d, err := s.Detach("dcr0")
				if err != nil {
					return fmt.Errorf("detach dcr0: %w", err)
				}
				if len(left) > 0 {
					t.Errorf("the detach told of interfaces left without the state's program: %v", left)
				}
				if d.Replaced != 0 {
					t.Errorf("the detach took dcr0's program (%d) for another's", d.Replaced)
				}
				ids, err := s.progIDs()
				if err != nil {
					return err
				}
				for name, want := range map[string]bool{"dcr0": false, "dcr1": true} {
					link, err := netlink.LinkByName(name)
					if err != nil {
						return err
					}
					id := xdpProgOf(link)
					if (id != 0) != want || want && !ids.ours(id) {
						t.Errorf("after the detach %s runs program %d, want the state's: %v (pinned %+v)", name, id, want, ids)
					}
				}
				return nil
			})
		})
	}
}
