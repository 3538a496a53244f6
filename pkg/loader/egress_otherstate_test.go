package loader

import (
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/layout"
)

// TestEgressFilterOtherState: on a clsact kernel (before 6.6) a state
// that takes an interface over from another (attach --force) has its
// learner in the other's filter, replaced in place. The other state
// letting go of its record of the interface (detach NAME, detach
// --ifindex, detach --all) leaves that filter, another state's: it
// removed it, so the state enforcing there learned no outgoing flow and
// dropped their replies under a rule on connection state.
func TestEgressFilterOtherState(t *testing.T) {
	egressHooksOnly(t, layout.EgressClsact)
	dirA, dirB := privtest.PinDir(t), privtest.PinDir(t)
	for _, let := range []string{"detach", "ifindex", "all"} {
		t.Run(let, func(t *testing.T) {
			inThrowawayNetns(t, func() error {
				defer removeState(dirA)
				defer removeState(dirB)
				a, err := attachedState(dirA, "eos0")
				if err != nil {
					return err
				}
				defer a.Close()
				b, err := OpenOrCreate(dirB)
				if err != nil {
					return err
				}
				defer b.Close()
				if _, _, err := b.Attach("eos0", ModeGeneric, true); err != nil {
					return err
				}
				l := linkNamed(t, "eos0")
				checkOneEgress(t, b, l, EgressClsact)
				switch let {
				case "detach":
					_, err = a.Detach("eos0")
				case "ifindex":
					_, _, err = a.DetachIfindex(l.Attrs().Index)
				case "all":
					_, err = a.DetachAll()
				}
				if err != nil {
					return err
				}
				checkOneEgress(t, b, l, EgressClsact)
				st, err := b.Status()
				if err != nil {
					return err
				}
				if len(st.Problems) != 0 {
					t.Errorf("the taking state's status after the other let go: %+v, want no problem", st.Problems)
				}
				return nil
			})
		})
	}
}
