package loader

import (
	"fmt"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestGrowLeavesOtherState: a growth puts the state's new programs on
// the interfaces it lists that run its own, not on one another pin
// directory's state took over (attach --force): it took it back, that
// state's ruleset no longer enforced there, its learner replaced, and
// its status failing with the interface "replaced".
func TestGrowLeavesOtherState(t *testing.T) {
	dirA, dirB := privtest.PinDir(t), privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dirA)
		defer removeState(dirB)
		a, err := attachedState(dirA, "gos0", "gos1")
		if err != nil {
			return err
		}
		defer a.Close()
		b, err := OpenOrCreate(dirB)
		if err != nil {
			return err
		}
		defer b.Close()
		if _, _, err := b.Attach("gos0", ModeGeneric, true); err != nil {
			return err
		}
		small := a.maps.Vectors.MaxEntries()
		if _, err := a.Apply(hostPortRules(1200, 2000)); err != nil {
			return err
		}
		if a.maps.Vectors.MaxEntries() <= small {
			return fmt.Errorf("the vectors map did not grow: %d entries", a.maps.Vectors.MaxEntries())
		}
		bIDs, err := b.progIDs()
		if err != nil {
			return err
		}
		aIDs, err := a.progIDs()
		if err != nil {
			return err
		}
		if x := linkNamed(t, "gos0").Attrs().Xdp; x == nil || x.ProgId != bIDs.plain {
			t.Errorf("gos0, taken over by another state, runs %+v after a growth, want that state's program %d", x, bIDs.plain)
		}
		if x := linkNamed(t, "gos1").Attrs().Xdp; x == nil || x.ProgId != aIDs.plain {
			t.Errorf("gos1 runs %+v after a growth, want the grown program %d", x, aIDs.plain)
		}
		st, err := b.Status()
		if err != nil {
			return err
		}
		if len(st.Problems) != 0 {
			t.Errorf("the other state's status after the growth: %+v, want no problem", st.Problems)
		}
		return nil
	})
}
