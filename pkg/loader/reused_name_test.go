package loader

import (
	"fmt"
	"slices"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestReusedRecordKeepsName: a record whose interface is gone, its
// ifindex a new interface's since, goes by the name it keeps wherever
// the records are listed (stats --interfaces, the interfaces a file's
// list detaches), as status names it: they named the new interface, so
// an apply -f said it detached xdpfw from an interface xdpfw never ran
// on.
func TestReusedRecordKeepsName(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		return reusedState(dir, "rkn", func(s *State, idx int, id uint32) error {
			counters, err := s.InterfaceCounters()
			if err != nil {
				return err
			}
			var names []string
			for _, c := range counters {
				names = append(names, fmt.Sprintf("%s:%d", c.Iface, c.Ifindex))
			}
			if slices.Sort(names); !slices.Contains(names, fmt.Sprintf("rkn0:%d", idx)) {
				t.Errorf("interface counters of %v, want rkn0's record at ifindex %d by its name", names, idx)
			}
			ch, err := s.MatchInterfaces([]rules.Interface{{Name: "rkn1", Mode: "generic"}})
			if err != nil {
				return err
			}
			if !slices.Equal(ch.Detached, []string{"rkn0"}) {
				t.Errorf("a list of rkn1 alone detached %v, want the record of rkn0", ch.Detached)
			}
			if got := xdpProgOf(linkNamed(t, "rkn2")); got != id {
				t.Errorf("rkn2 runs XDP program %d, want its own %d", got, id)
			}
			return nil
		})
	})
}
