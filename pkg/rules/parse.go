package rules

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// IP protocol numbers that have names in the rule language.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// protoNames are the protocol names ParseProto accepts and Proto.String
// prints. Anything else is written as its number.
var protoNames = map[uint8]string{
	ProtoICMP:   "icmp",
	ProtoTCP:    "tcp",
	ProtoUDP:    "udp",
	ProtoICMPv6: "icmpv6",
}

// ParsePrefix parses a CIDR ("10.0.0.0/8", "2001:db8::/32") or a bare
// address, which becomes a host prefix (/32 or /128). A prefix with host
// bits set is rejected rather than silently masked: "10.0.0.1/8" is more
// likely a typo for a host than a wish for the whole /8. An IPv4-mapped
// IPv6 address written in IPv6 syntax stays IPv6, so it never matches
// IPv4 frames (the datapath keeps the families apart too); rule add
// refuses one in a rule, a file warns (CheckFamilies).
func ParsePrefix(s string) (netip.Prefix, error) {
	addrPart, bitsPart, hasBits := strings.Cut(s, "/")
	if s == "" {
		return netip.Prefix{}, fmt.Errorf("empty address")
	}
	addr, err := parseAddr(addrPart)
	if err != nil {
		if hasBits {
			return netip.Prefix{}, fmt.Errorf("invalid prefix %q: %v", s, err)
		}
		return netip.Prefix{}, fmt.Errorf("invalid address %q: %v", s, err)
	}
	if !hasBits {
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	bits, err := parsePrefixLen(bitsPart, addr)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid prefix %q: %v", s, err)
	}
	p := netip.PrefixFrom(addr, bits)
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("%s has host bits set (did you mean %s?)", s, m)
	}
	return p, nil
}

// parseAddr parses one address without a zone (a zone means nothing to a
// firewall rule that may run on any interface). netip's own message starts
// with `ParseAddr("..."): `; it is cut because the caller quotes the input.
func parseAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, fmt.Errorf("missing address")
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("ParseAddr(%q): ", s))
		return netip.Addr{}, fmt.Errorf("%s", msg)
	}
	if addr.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("zone %q not allowed", addr.Zone())
	}
	return addr, nil
}

// parsePrefixLen parses the part after "/": decimal digits only, without
// a leading zero (refused as in an IPv4 octet, and by netip), in range for
// the address family.
func parsePrefixLen(s string, addr netip.Addr) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("missing prefix length after /")
	}
	if !allDigits(s) {
		return 0, fmt.Errorf("prefix length %q is not a number", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > addr.BitLen() {
		return 0, fmt.Errorf("prefix length %s out of range for %s (0-%d)", s, familyName(addr), addr.BitLen())
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("prefix length %q has a leading zero (write /%d)", s, n)
	}
	return n, nil
}

func familyName(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ParsePorts parses a port ("80") or an inclusive range ("1000-2000").
func ParsePorts(s string) (PortRange, error) {
	loStr, hiStr, isRange := strings.Cut(s, "-")
	if !isRange {
		p, err := parsePort(s)
		if err != nil {
			return PortRange{}, err
		}
		return PortRange{Set: true, Lo: p, Hi: p}, nil
	}
	if loStr == "" || hiStr == "" || strings.Contains(hiStr, "-") {
		return PortRange{}, fmt.Errorf("invalid port range %q (want PORT or LOW-HIGH)", s)
	}
	lo, err := parsePort(loStr)
	if err != nil {
		return PortRange{}, fmt.Errorf("invalid port range %q: %v", s, err)
	}
	hi, err := parsePort(hiStr)
	if err != nil {
		return PortRange{}, fmt.Errorf("invalid port range %q: %v", s, err)
	}
	if lo > hi {
		return PortRange{}, fmt.Errorf("invalid port range %q: %d is above %d", s, lo, hi)
	}
	return PortRange{Set: true, Lo: lo, Hi: hi}, nil
}

// parsePort parses one decimal port number, 0..65535.
func parsePort(s string) (uint16, error) {
	if s == "" {
		return 0, fmt.Errorf("empty port")
	}
	if !allDigits(s) {
		return 0, fmt.Errorf("invalid port %q (want a number 0-65535)", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %s out of range (0-65535)", s)
	}
	return uint16(n), nil
}

// ParseProto parses a protocol name (tcp, udp, icmp, icmpv6, any case) or
// an IP protocol number 0..255.
func ParseProto(s string) (Proto, error) {
	lower := strings.ToLower(s)
	for num, name := range protoNames {
		if lower == name {
			return Proto{Set: true, Num: num}, nil
		}
	}
	if !allDigits(s) {
		return Proto{}, fmt.Errorf("unknown protocol %q (want tcp, udp, icmp, icmpv6 or a number 0-255)", s)
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return Proto{}, fmt.Errorf("protocol %s out of range (0-255)", s)
	}
	return Proto{Set: true, Num: uint8(n)}, nil
}

// ParseAction parses "pass" or "drop" (any case).
func ParseAction(s string) (Action, error) {
	switch strings.ToLower(s) {
	case "pass":
		return Pass, nil
	case "drop":
		return Drop, nil
	}
	return 0, fmt.Errorf("unknown action %q (want pass or drop)", s)
}

// ParsePolicy parses a default policy; the words are those of an action.
func ParsePolicy(s string) (Action, error) {
	a, err := ParseAction(s)
	if err != nil {
		return 0, fmt.Errorf("unknown policy %q (want pass or drop)", s)
	}
	return a, nil
}

// String gives "pass" or "drop"; an invalid value shows its number so a
// bug is visible rather than printed as a plausible word.
func (a Action) String() string {
	switch a {
	case Pass:
		return "pass"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// String gives the protocol's name if it has one, else its number, and ""
// when unset.
func (p Proto) String() string {
	if !p.Set {
		return ""
	}
	if name, ok := protoNames[p.Num]; ok {
		return name
	}
	return strconv.Itoa(int(p.Num))
}

// String gives "80" for a single value, "1000-2000" for a range and ""
// when unset; ParsePorts and parseRange read every form back.
func (r Range) String() string {
	if !r.Set {
		return ""
	}
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// String gives the set conditions in Conditions order, e.g.
// "src 10.0.0.0/8 proto tcp dport 80"; a match with none is "any".
func (m Match) String() string { return matchText(&m) }

// String gives one line, e.g. "id 3 priority 1000 drop src 10.0.0.0/8";
// the id is left out while it is unassigned (0).
func (r Rule) String() string {
	var b strings.Builder
	if r.ID != 0 {
		fmt.Fprintf(&b, "id %d ", r.ID)
	}
	fmt.Fprintf(&b, "priority %d %s %s", r.Priority, r.Action, r.Match)
	return b.String()
}
