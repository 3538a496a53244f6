package rules

import (
	"fmt"
	"strings"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// CTStates is a ct-state condition: the connection-tracking states it
// accepts, one bit each (the datapath's enum ct_state); 0 is no
// condition. Its meaning is nftables' `ct state`: a packet coming in is
// new, established (a reply in a flow this host started), related (an
// ICMP error about one) or invalid; frames connection tracking does not
// follow (not IP, neighbour discovery) are in no state, so no ct-state
// condition matches them.
type CTStates uint8

const (
	CTNew         CTStates = layout.CtNew
	CTEstablished CTStates = layout.CtEstablished
	CTRelated     CTStates = layout.CtRelated
	CTInvalid     CTStates = layout.CtInvalid
)

var ctStateNames = []struct {
	bit  CTStates
	name string
}{{CTNew, "new"}, {CTEstablished, "established"}, {CTRelated, "related"}, {CTInvalid, "invalid"}}

// ParseCTStates reads a comma list of states: "established,related", any
// case, as the other conditions' words are read.
func ParseCTStates(s string) (CTStates, error) {
	var out CTStates
	for _, part := range strings.Split(s, ",") {
		name := strings.TrimSpace(part)
		found := false
		for _, n := range ctStateNames {
			if !strings.EqualFold(n.name, name) {
				continue
			}
			// Refused as a TCP flag named twice is: a typo, most
			// likely, for the state meant.
			if out&n.bit != 0 {
				return 0, fmt.Errorf("state %s named twice in %s", name, quoteShort(s))
			}
			out |= n.bit
			found = true
		}
		if !found {
			if name == "" {
				return 0, fmt.Errorf("empty state in %s (want a comma list of new, established, related, invalid)", quoteShort(s))
			}
			return 0, fmt.Errorf("unknown state %s (want new, established, related or invalid)", quoteShort(name))
		}
	}
	return out, nil
}

// String is the comma list ParseCTStates reads, in a fixed order; "" when
// no state is set.
func (c CTStates) String() string {
	var names []string
	for _, n := range ctStateNames {
		if c&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// Accepts reports whether the condition holds for a packet in state st
// (a single state's bit, or 0 for an untracked frame).
func (c CTStates) Accepts(st CTStates) bool { return c == 0 || c&st != 0 }
