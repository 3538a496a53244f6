package loader

import (
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestApplyCreatesEmptyRuleset: the first apply of a file with no rules
// and policy pass, the ruleset a new state is made with, says it
// committed; the same file again, through the same handle or a new one,
// changes nothing. It said unchanged the first time too, though that
// apply made the state.
func TestApplyCreatesEmptyRuleset(t *testing.T) {
	privtest.Require(t)
	dir := privtest.PinDir(t)
	rs := &rules.Ruleset{Policy: rules.Pass}
	apply := func(s *State, what string, want bool) {
		t.Helper()
		res, _, err := s.ApplyFile(rs)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if res != (ApplyResult{Committed: want}) {
			t.Errorf("%s: %+v, want Committed %v and no rules", what, res, want)
		}
	}
	err := Provision(dir, func(s *State) error {
		apply(s, "the apply that made the state", true)
		apply(s, "the same apply again", false)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		s.unpinAll()
		s.Close()
	}()
	apply(s, "the same apply on the state found", false)
}
