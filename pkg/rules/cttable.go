package rules

import "github.com/xdpfw/xdpfw/pkg/layout"

// ReadsConnState reports whether the datapath looks connection tracking
// up under rs: for every packet when a rule has a ct-state condition, and
// for a DHCP reply the drop policy would otherwise drop (the host's own
// request let it through).
func (rs *Ruleset) ReadsConnState() bool {
	return rs.Policy == Drop || HasCTState(rs.Rules)
}

// HasCTState reports whether a rule of rs has a ct-state condition: only
// then does the datapath look connection tracking up for every packet
// (its generation's DIM_CT flag).
func HasCTState(rs []Rule) bool {
	for i := range rs {
		if rs[i].Match.CTState != 0 {
			return true
		}
	}
	return false
}

// CTFlows is the size of the conntrack table rs runs with: max-flows when
// the file sets it; otherwise the default table (Conntrack.Flows) when rs
// reads connection state, and an idle one of layout.CtIdleEntries flows
// when it does not. An idle table costs about 120 KiB instead of 31 MiB;
// the egress learner keeps the most recent flows in it, which the table
// keeps when a change makes it whole (older connections are learnt again
// from their next packet out). Idle is below MinCTFlows, so a table's
// size and rs's rules and policy say whether a file set it (MaxFlowsFor).
func (rs *Ruleset) CTFlows() uint32 {
	if rs.Conntrack.MaxFlows == 0 && !rs.ReadsConnState() {
		return layout.CtIdleEntries
	}
	return rs.Conntrack.Flows()
}

// MaxFlowsFor is the max-flows of a ruleset of rs's rules and policy
// that runs with a table of n flows, CTFlows' inverse: 0 for the table it
// has without one (idle, or the default when it reads connection state),
// else n. The default's size said out loud is kept where rs reads
// nothing: there it keeps the table whole, not idle. The parser keeps
// max-flows so (one ruleset, one form), and the live ruleset is read
// back so from the pinned table, the size's one record.
func (rs *Ruleset) MaxFlowsFor(n uint32) uint32 {
	if n == layout.CtIdleEntries || n == layout.CtEntries && rs.ReadsConnState() {
		return 0
	}
	return n
}

// CTFrags is the size of the fragments table that goes with CTFlows.
func (rs *Ruleset) CTFrags() uint32 { return CTFragsFor(rs.CTFlows()) }
