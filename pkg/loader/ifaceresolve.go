package loader

import (
	"net"
	"slices"

	"github.com/xdpfw/xdpfw/pkg/classifier"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// A rule's `iface` names an interface; the datapath matches the frame's
// ifindex, which a commit resolves the name to (writeIfaces). An
// interface deleted and made again under its name has a new ifindex, so
// the live generation's entry would name one no frame arrives on and the
// rule would stop matching with nothing changed in the ruleset. attach
// and apply therefore commit the live ruleset again when its names
// resolve otherwise than when it was written (ifacesStale).

// ifaceEntries are the interface-table entries of rs as a commit now
// writes them, as ifindex -> atom; nil when no rule names an interface.
func ifaceEntries(rs *rules.Ruleset) (map[uint32]uint32, error) {
	if !slices.ContainsFunc(rs.Rules, func(r rules.Rule) bool { return r.Match.Iface != "" }) {
		return nil, nil
	}
	t, err := classifier.Compile(rs)
	if err != nil {
		return nil, err
	}
	if solo, ok := t.Solo(); ok {
		t = solo
	}
	out := map[uint32]uint32{}
	for _, e := range resolveIfaces(t.Ifaces) {
		out[e.ifindex] = e.atom
	}
	return out, nil
}

// ifacesStale reports whether the interface names of the live ruleset
// (rs, live in generation gen) resolve to other entries than the live
// generation holds.
func ifacesStale(m *xdpfwMaps, gen uint32, rs *rules.Ruleset) (bool, error) {
	want, err := ifaceEntries(rs)
	if err != nil || want == nil {
		return false, err
	}
	keys, atoms, err := readAll[xdpfwIfaceKey, uint32](m.IfaceAtoms)
	if err != nil {
		return false, err
	}
	have := map[uint32]uint32{}
	for i, k := range keys {
		if k.Gen == gen {
			have[k.Ifindex] = atoms[i]
		}
	}
	if len(have) != len(want) {
		return true, nil
	}
	for ifindex, atom := range want {
		if a, ok := have[ifindex]; !ok || a != atom {
			return true, nil
		}
	}
	return false, nil
}

// resolveIfacesAgain makes the change commit the live ruleset as it is
// when its interface names resolve otherwise than when it was written.
func (t *tx) resolveIfacesAgain() error {
	// The config says whether any rule names an interface: most
	// rulesets none, and attach need not decode them.
	if t.conf[t.active].Flags&gfUse(layout.DimIface) == 0 {
		return nil
	}
	rs, slots, err := t.ruleset()
	if err != nil {
		return err
	}
	stale, err := ifacesStale(t.m, t.active, rs)
	if stale {
		t.setRules(rs, slots)
	}
	return err
}

// resolvedIface is an interface-table entry: a rule's interface name
// resolved to its ifindex.
type resolvedIface struct{ ifindex, atom uint32 }

// resolveIfaces resolves the names of ifaces that name an interface now.
func resolveIfaces(ifaces []classifier.IfaceAtom) []resolvedIface {
	var out []resolvedIface
	for _, e := range ifaces {
		if ifi, err := net.InterfaceByName(e.Name); err == nil {
			out = append(out, resolvedIface{uint32(ifi.Index), e.Atom})
		}
	}
	return out
}
