package loader

import (
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestDetachEachChecksFirst: detach A B with B a typo, or an interface
// xdpfw is not attached to, changes nothing and names B: it detached A,
// then failed on B, so one bad name among several took the firewall off
// the good ones. A name given twice is detached once.
func TestDetachEachChecksFirst(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "dte0", "dte1")
		if err != nil {
			return err
		}
		defer s.Close()
		for _, bad := range [][]string{{"dte0", "dte9"}, {"dte0", "dte1p"}} {
			done, err := s.DetachEach(bad)
			if err == nil || !strings.Contains(err.Error(), bad[1]) || len(done) != 0 {
				t.Errorf("DetachEach(%q): %+v, %v; want it refused naming %s, nothing done", bad, done, err, bad[1])
			}
			for _, name := range []string{"dte0", "dte1"} {
				if p := xdpProgOf(linkNamed(t, name)); p == 0 {
					t.Errorf("after DetachEach(%q) %s runs no XDP program, want xdpfw's still", bad, name)
				}
			}
		}
		done, err := s.DetachEach([]string{"dte0", "dte0", "dte1"})
		if err != nil {
			return err
		}
		if len(done) != 2 || !done[0].Detached || done[0].Iface != "dte0" || !done[1].Detached || !done[1].Last {
			t.Errorf("DetachEach(dte0 dte0 dte1): %+v, want dte0 detached, then dte1 detached as the last", done)
		}
		return nil
	})
}
