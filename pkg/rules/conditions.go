package rules

import (
	"fmt"
	"net/netip"
	"strings"
)

// Condition is one thing a rule can match on, with its single text form:
// the same key names the `rule add` flag, the ruleset-file key and the
// stored rule's field, and the same Parse/Format pair serves all three, so
// the rule language has one spelling of everything.
type Condition struct {
	Key   string // "dport": --dport, "dport:" in a file
	Arg   string // placeholder in help: "PORT"
	Usage string // one line for --help

	// Parse sets the condition on m. Conditions are parsed in registry
	// order, so one that implies a protocol sees any explicit proto.
	Parse func(m *Match, s string) error
	// Format gives the text Parse reads back, "" when unset.
	Format func(m *Match) string
}

// Conditions lists every condition, in the order rules are printed and
// parsed.
var Conditions = []Condition{
	{"src", "CIDR|@SET", "source prefix or address, or @NAME of a set (xdpfw set)",
		func(m *Match, s string) (err error) { m.Src, m.SrcSet, err = parseAddrCond(s); return },
		func(m *Match) string { return addrCondText(m.Src, m.SrcSet) }},
	{"dst", "CIDR|@SET", "destination prefix or address, or @NAME of a set",
		func(m *Match, s string) (err error) { m.Dst, m.DstSet, err = parseAddrCond(s); return },
		func(m *Match) string { return addrCondText(m.Dst, m.DstSet) }},
	{"family", "FAMILY", "ipv4 or ipv6",
		func(m *Match, s string) (err error) { m.Family, err = ParseFamily(s); return },
		func(m *Match) string { return m.Family.String() }},
	{"proto", "PROTO", "L4 protocol after any IPv6 extension headers: tcp, udp, icmp, icmpv6 or 0-255 (not 0, 43 or 44)",
		func(m *Match, s string) (err error) { m.Proto, err = ParseProto(s); return },
		func(m *Match) string { return m.Proto.String() }},
	{"fragment", "WHICH", "none, first, non-first or any (fragment)",
		func(m *Match, s string) (err error) { m.Fragment, err = ParseFragMatch(s); return },
		func(m *Match) string { return m.Fragment.String() }},
	{"sport", "PORT", "source port or LO-HI, 0-65535 (TCP and UDP)",
		func(m *Match, s string) (err error) { m.Sport, err = ParsePorts(s); return },
		func(m *Match) string { return m.Sport.String() }},
	{"dport", "PORT", "destination port or LO-HI, 0-65535 (TCP and UDP)",
		func(m *Match, s string) (err error) { m.Dport, err = ParsePorts(s); return },
		func(m *Match) string { return m.Dport.String() }},
	{"tcp-flags", "FLAGS", `TCP flags: 'syn,!ack' or "syn / syn,ack" (implies proto tcp)`,
		func(m *Match, s string) error { return parseTCPFlagsInto(m, s) },
		func(m *Match) string { return m.TCPFlags.String() }},
	{"icmp-type", "TYPE", "ICMP type, name or 0-255 (implies proto icmp)",
		icmpParser(ProtoICMP, false), icmpFormatter(ProtoICMP, false)},
	{"icmp-code", "CODE", "ICMP code 0-255 (implies proto icmp)",
		icmpParser(ProtoICMP, true), icmpFormatter(ProtoICMP, true)},
	{"icmpv6-type", "TYPE", "ICMPv6 type, name or 0-255 (implies proto icmpv6)",
		icmpParser(ProtoICMPv6, false), icmpFormatter(ProtoICMPv6, false)},
	{"icmpv6-code", "CODE", "ICMPv6 code 0-255 (implies proto icmpv6)",
		icmpParser(ProtoICMPv6, true), icmpFormatter(ProtoICMPv6, true)},
	{"vlan", "ID", "outer VLAN id 0-4095, or untagged",
		func(m *Match, s string) (err error) { m.VLAN, err = ParseVLAN(s, true); return },
		func(m *Match) string { return m.VLAN.String() }},
	{"inner-vlan", "ID", "inner VLAN id 0-4095 (double-tagged frames)",
		func(m *Match, s string) (err error) { m.InnerVLAN, err = ParseVLAN(s, false); return },
		func(m *Match) string { return m.InnerVLAN.String() }},
	{"dscp", "DSCP", "DSCP 0-63 or a name: ef, cs0-cs7, af11-af43",
		func(m *Match, s string) (err error) { m.DSCP, err = ParseDSCP(s); return },
		func(m *Match) string { return m.DSCP.String() }},
	{"ttl", "TTL", "TTL or hop limit, N or LO-HI (0-255)",
		func(m *Match, s string) (err error) { m.TTL, err = parseRange(s, "TTL", 255); return },
		func(m *Match) string { return m.TTL.String() }},
	{"length", "BYTES", "frame length in bytes with the Ethernet header, N or LO-HI (0-65535)",
		func(m *Match, s string) (err error) { m.Length, err = parseRange(s, "length", 65535); return },
		func(m *Match) string { return m.Length.String() }},
	{"iface", "NAME", "input interface name",
		func(m *Match, s string) (err error) { m.Iface, err = ParseIfaceName(s); return },
		func(m *Match) string { return m.Iface }},
	// Last: stored rule definitions list conditions in this order, and
	// ones written before it must read the same.
	{"ct-state", "STATES", "connection-tracking state, a comma list of new, established, related, invalid (as nftables' ct state)",
		func(m *Match, s string) (err error) { m.CTState, err = ParseCTStates(s); return },
		func(m *Match) string { return m.CTState.String() }},
}

// ConditionByKey finds a condition; nil if there is none.
func ConditionByKey(key string) *Condition {
	if i := ConditionIndex(key); i >= 0 {
		return &Conditions[i]
	}
	return nil
}

// ConditionIndex is the position of the condition key in Conditions; -1
// if there is none.
func ConditionIndex(key string) int {
	for i := range Conditions {
		if Conditions[i].Key == key {
			return i
		}
	}
	return -1
}

// addrCondText is an address condition's text: the prefix, or @SET.
func addrCondText(p netip.Prefix, set string) string {
	switch {
	case set != "":
		return setRef(set)
	case p.IsValid():
		return p.String()
	}
	return ""
}

// implyProto sets m.Proto to proto for a condition that only makes sense
// with it, and refuses a different explicit protocol.
func implyProto(m *Match, key string, proto uint8) error {
	if m.Proto.Set && m.Proto.Num != proto {
		return fmt.Errorf("%s needs proto %s (got %s)", key, Proto{Set: true, Num: proto}, m.Proto)
	}
	m.Proto = Proto{Set: true, Num: proto}
	return nil
}

func parseTCPFlagsInto(m *Match, s string) error {
	f, err := ParseTCPFlags(s)
	if err != nil {
		return err
	}
	m.TCPFlags = f
	return implyProto(m, "tcp-flags", ProtoTCP)
}

func icmpParser(proto uint8, code bool) func(*Match, string) error {
	key := icmpKey(proto, code)
	return func(m *Match, s string) error {
		var (
			v   Opt8
			err error
		)
		if code {
			v, err = parseOpt8(s, key, 255)
		} else {
			v, err = parseICMPType(s, proto)
		}
		if err != nil {
			return err
		}
		if err := implyProto(m, key, proto); err != nil {
			return err
		}
		if code {
			m.ICMPCode = v
		} else {
			m.ICMPType = v
		}
		return nil
	}
}

func icmpFormatter(proto uint8, code bool) func(*Match) string {
	return func(m *Match) string {
		if !m.Proto.Set || m.Proto.Num != proto {
			return ""
		}
		if code {
			return m.ICMPCode.String()
		}
		return icmpTypeText(m.ICMPType, proto)
	}
}

func icmpKey(proto uint8, code bool) string {
	k := "icmp"
	if proto == ProtoICMPv6 {
		k = "icmpv6"
	}
	if code {
		return k + "-code"
	}
	return k + "-type"
}

// FormatMatch gives every set condition as key/value pairs in registry
// order.
func FormatMatch(m *Match) [][2]string {
	var out [][2]string
	for _, c := range Conditions {
		if v := c.Format(m); v != "" {
			out = append(out, [2]string{c.Key, v})
		}
	}
	return out
}

// matchText is Match.String: "key value" pairs, "any" for none.
func matchText(m *Match) string {
	var parts []string
	for _, kv := range FormatMatch(m) {
		v := kv[1]
		if strings.ContainsAny(v, " ") {
			v = fmt.Sprintf("%q", v)
		}
		parts = append(parts, kv[0]+" "+v)
	}
	if len(parts) == 0 {
		return "any"
	}
	return strings.Join(parts, " ")
}
