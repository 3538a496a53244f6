package loader

import (
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestCutChangeNotOrphanOfOther: a growth or a conntrack resize cut short
// after it moved the program pins leaves the interfaces it had not
// reached running the program it began with, pinned nowhere, on maps
// still pinned in its directory (the next change finishes it). Another
// pin directory's status must not call that program an orphan, nor its
// detach --orphans remove it: that turned the first state's firewall off
// on the interface, the state's next change then leaving it off.
func TestCutChangeNotOrphanOfOther(t *testing.T) {
	for _, point := range []string{"grow:programs", "ctresize:programs"} {
		t.Run(point, func(t *testing.T) {
			dirA, dirB := privtest.PinDir(t), privtest.PinDir(t)
			inThrowawayNetns(t, func() error {
				defer removeState(dirA)
				defer removeState(dirB)
				a, err := attachedState(dirA, "cno0")
				if err != nil {
					return err
				}
				b, err := attachedState(dirB, "cno1")
				if err != nil {
					a.Close()
					return err
				}
				big := hostPortRules(1200, 2000)
				if point == "ctresize:programs" {
					big = hostPortRules(3, 2000)
					big.Conntrack.MaxFlows = 4096
				}
				cutShort(t, a, point, func(func(int, int)) { a.Apply(big) })
				a.Close()
				before := xdpProgOf(linkNamed(t, "cno0"))
				st, err := b.Status()
				b.Close() // detach --orphans opens it, taking its lock
				if err != nil {
					return err
				}
				if len(st.Problems) != 0 {
					t.Errorf("the other state's status after a change cut short: %+v, want no problem", st.Problems)
				}
				done, err := DetachOrphans(dirB)
				if err != nil {
					return err
				}
				if len(done) != 0 {
					t.Errorf("detach --orphans of the other state removed %+v", done)
				}
				if got := xdpProgOf(linkNamed(t, "cno0")); got != before || got == 0 {
					t.Errorf("cno0 runs XDP program %d after the other state's detach --orphans, want %d", got, before)
				}
				if a, err = Open(dirA); err != nil {
					return err
				}
				defer a.Close()
				if _, err := a.Apply(big); err != nil {
					return err
				}
				if st, err := a.Status(); err != nil || len(st.Problems) != 0 {
					t.Errorf("the state's status once its next change finished: %+v, %v; want no problem", st, err)
				}
				return nil
			})
		})
	}
}
