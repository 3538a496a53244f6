package loader

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestStatusLeftoverPins: a state whose removal was killed just after
// its meta went (unpinAll removes it first) has no state, and status
// says its pins are left and what removes them: it said only that
// nothing was pinned, while the maps (the conntrack table's among them)
// kept their memory until some later command made a state there.
func TestStatusLeftoverPins(t *testing.T) {
	privtest.Require(t)
	dir := privtest.PinDir(t)
	s, err := OpenOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Remove(filepath.Join(dir, xdpfwMapMeta)); err != nil {
		t.Fatal(err)
	}
	st, err := ReadStatus(dir)
	if !errors.Is(err, ErrNotAttached) {
		t.Fatalf("status of pins without meta: %v, want no state", err)
	}
	if len(st.Problems) != 1 || st.Problems[0].Kind != "leftover" || st.Problems[0].Fix != "xdpfw detach --all" {
		t.Fatalf("problems %+v, want the pins left, removed by detach --all", st.Problems)
	}
	if _, err := RemoveState(dir); err != nil {
		t.Fatal(err)
	}
	pinDirGone(t, dir, "detach --all")
	if st, err := ReadStatus(dir); !errors.Is(err, ErrNotAttached) || len(st.Problems) != 0 {
		t.Errorf("status after detach --all: %+v, %v; want no state, no problem", st.Problems, err)
	}
}
