package model

import (
	"time"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// IsDHCPReply reports whether p is a DHCP reply (server port to client
// port, DHCPv4 or DHCPv6): the one packet a drop policy passes when it
// answers a request this host sent, as it passes ARP and ND.
func IsDHCPReply(p *Packet) bool {
	if !p.HasPorts || p.Proto != rules.ProtoUDP {
		return false
	}
	if p.Family() == rules.FamilyIPv4 {
		return p.Sport == dhcp4Server && p.Dport == dhcp4Client
	}
	return p.Sport == dhcp6Server && p.Dport == dhcp6Client
}

// EvaluateTracked is EvaluateDecoded for a packet of frame coming in at
// now, with t the connection-tracking table (nil: an empty one, which is
// what a datapath sees that nothing went out of: packets coming in never
// create state). As the datapath does, it places the packet against t
// only when a rule of the ruleset names ct-state, or when a DHCP reply
// would otherwise meet a drop policy; placing it moves its flow on. It
// returns the verdict and the state found, with looked false (and p.CT
// untracked) when nothing was looked up. usesCT must be rules.HasCTState(sorted).
func EvaluateTracked(rs *rules.Ruleset, sorted []rules.Rule, usesCT bool, p *Packet, frame []byte, t *Tracker, now time.Duration) (v Verdict, looked bool) {
	p.CT = CTUntracked
	if p.Malformed {
		return Verdict{Action: rules.Drop, Reason: ReasonMalformed}, false
	}
	if t == nil {
		t = &Tracker{} // read-only: an unknown flow records nothing
	}
	place := func() {
		p.CT = t.Ingress(p, frame, now)
		looked = true
	}
	if usesCT {
		place()
	}
	v = EvaluateDecoded(rs, sorted, p)
	if v.Reason == ReasonDefault && v.Action == rules.Drop && IsDHCPReply(p) {
		if !looked {
			place()
		}
		if p.CT == CTEstablished {
			v = Verdict{Action: rules.Pass, Reason: ReasonNeighbor}
		}
	}
	return v, looked
}

// CTConfigOf is the model's configuration for rs's connection tracking:
// its conntrack: section's timeouts, with the datapath's table sizes for
// rs (rules.Ruleset.CTFlows).
func CTConfigOf(rs *rules.Ruleset) CTConfig {
	return ctConfig(rs.Conntrack, rs.CTFlows())
}

// ctConfig is c's timeouts with a table of flows flows.
func ctConfig(c rules.Conntrack, flows uint32) CTConfig {
	return CTConfig{
		Capacity:       int(flows),
		FragCapacity:   int(rules.CTFragsFor(flows)),
		TCPSynSent:     c.Timeout(layout.CtToSynSent),
		TCPSynRecv:     c.Timeout(layout.CtToSynRecv),
		TCPEstablished: c.Timeout(layout.CtToEstablished),
		TCPClosing:     c.Timeout(layout.CtToClosing),
		TCPClose:       c.Timeout(layout.CtToClose),
		UDP:            c.Timeout(layout.CtToUdp),
		UDPReplied:     c.Timeout(layout.CtToUdpReplied),
		ICMP:           c.Timeout(layout.CtToIcmp),
		Generic:        c.Timeout(layout.CtToGeneric),
		Fragment:       c.Timeout(layout.CtToFragment),
	}
}
