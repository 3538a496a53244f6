package loader

import (
	"fmt"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestDetachIfindexReused: detach by the name a record keeps forgets it
// when its interface is gone and a new interface took its ifindex, as
// when nothing has the ifindex, and leaves the new interface's program
// as it is: it was refused (xdpfw is not attached to the name, no gone
// record of it), the record only forgotten by ifindex.
func TestDetachIfindexReused(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		return reusedState(dir, "drd", func(s *State, idx int, id uint32) error {
			done, err := s.DetachEach([]string{"drd0"})
			if err != nil {
				return fmt.Errorf("detach drd0: %w", err)
			}
			if len(done) != 1 || done[0].Detached || len(done[0].Forgot) != 1 || done[0].Last {
				return fmt.Errorf("detach drd0 did %+v, want the one record forgotten, the state kept", done)
			}
			if f := done[0].Forgot[0]; f.Iface != "drd0" || f.Ifindex != idx {
				t.Errorf("detach drd0 forgot %+v, want the record of drd0 at ifindex %d", f, idx)
			}
			if got := xdpProgOf(linkNamed(t, "drd2")); got != id {
				t.Errorf("drd2 runs XDP program %d after detach drd0, want its own %d", got, id)
			}
			st, err := s.Status()
			if err != nil {
				return err
			}
			if len(st.Problems) != 0 || len(st.Interfaces) != 1 || st.Interfaces[0].Iface != "drd1" {
				t.Errorf("status after detach drd0: %+v, want drd1 alone, no problem", st)
			}
			return nil
		})
	})
}
