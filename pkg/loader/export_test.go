package loader

import "github.com/cilium/ebpf"

// TesterMaps gives a tester's maps by name, so a benchmark can run another
// build of the object on exactly the same classifier state.
func TesterMaps(t *Tester) map[string]*ebpf.Map {
	s := State{maps: t.objs.xdpfwMaps}
	return s.mapsByName()
}

// stopChangesAt makes every change of s call stop at its named points
// (tx.reached); nil: no more.
func stopChangesAt(s *State, stop func(point string)) { s.stopAt = stop }
