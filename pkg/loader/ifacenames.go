package loader

import (
	"net"
	"slices"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// UnknownInterfaces lists the interface names rs's rules name that no
// interface in this network namespace has now: a commit gives them no
// entry (writeIfaces), so their rules match nothing until a later commit
// finds the interface. Sorted, each once.
func UnknownInterfaces(rs *rules.Ruleset) []string {
	var out []string
	for _, r := range rs.Rules {
		name := r.Match.Iface
		if name == "" || slices.Contains(out, name) {
			continue
		}
		if _, err := net.InterfaceByName(name); err != nil {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
