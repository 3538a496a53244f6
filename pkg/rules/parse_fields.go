package rules

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Parsers and text forms of the conditions beyond addresses, protocol and
// ports. Each String gives "" when unset and a form its parser reads back.

// ParseFamily parses "ipv4" or "ipv6" (also "ip", "ip6", "4", "6").
func ParseFamily(s string) (Family, error) {
	switch strings.ToLower(s) {
	case "ipv4", "ip", "ip4", "4":
		return FamilyIPv4, nil
	case "ipv6", "ip6", "6":
		return FamilyIPv6, nil
	}
	return 0, fmt.Errorf("unknown family %q (want ipv4 or ipv6)", s)
}

func (f Family) String() string {
	switch f {
	case FamilyIPv4:
		return "ipv4"
	case FamilyIPv6:
		return "ipv6"
	}
	return ""
}

var fragNames = map[FragMatch]string{
	FragNotFrag: "none", FragFirstOnly: "first", FragLaterOnly: "non-first", FragAnyFrag: "any",
}

// ParseFragMatch parses none, first, non-first or any.
func ParseFragMatch(s string) (FragMatch, error) {
	for f, name := range fragNames {
		if strings.EqualFold(s, name) {
			return f, nil
		}
	}
	return 0, fmt.Errorf("unknown fragment match %q (want none, first, non-first or any)", s)
}

func (f FragMatch) String() string { return fragNames[f] }

// Accepts reports whether a frame of class c passes the condition.
func (f FragMatch) Accepts(c FragClass) bool {
	switch f {
	case FragNotFrag:
		return c == FragNone
	case FragFirstOnly:
		return c == FragFirst
	case FragLaterOnly:
		return c == FragLater
	case FragAnyFrag:
		return c != FragNone
	}
	return true
}

// tcpFlagNames in bit order (FIN is bit 0), as nftables names them.
var tcpFlagNames = [8]string{"fin", "syn", "rst", "psh", "ack", "urg", "ecn", "cwr"}

// TCPFlagList names the flags set in bits, comma-separated in bit order
// ("syn,ack"), or "none".
func TCPFlagList(bits uint8) string {
	var names []string
	for i, n := range tcpFlagNames {
		if bits&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

func tcpFlagBit(name string) (uint8, error) {
	for i, n := range tcpFlagNames {
		if strings.EqualFold(name, n) {
			return 1 << i, nil
		}
	}
	return 0, fmt.Errorf("unknown TCP flag %q (want %s)", name, strings.Join(tcpFlagNames[:], ", "))
}

// ParseTCPFlags parses either a list of flags that must be set or, with
// "!", clear ("syn,!ack": SYN set and ACK clear, the rest ignored), or
// nftables' "VALUE / MASK" ("syn / syn,ack": the same).
func ParseTCPFlags(s string) (TCPFlags, error) {
	flags := func(list string, allowNot bool) (set, not uint8, err error) {
		for _, f := range strings.Split(list, ",") {
			f = strings.TrimSpace(f)
			neg := strings.HasPrefix(f, "!")
			if neg {
				if !allowNot {
					return 0, 0, fmt.Errorf("%q: no ! on either side of /", f)
				}
				f = f[1:]
			}
			b, err := tcpFlagBit(f)
			if err != nil {
				return 0, 0, err
			}
			if (set|not)&b != 0 {
				return 0, 0, fmt.Errorf("TCP flag %s named twice", f)
			}
			if neg {
				not |= b
			} else {
				set |= b
			}
		}
		return set, not, nil
	}
	if val, mask, ok := strings.Cut(s, "/"); ok {
		v, _, err := flags(val, false)
		if err != nil {
			return TCPFlags{}, fmt.Errorf("tcp-flags %q: %v", s, err)
		}
		m, _, err := flags(mask, false)
		if err != nil {
			return TCPFlags{}, fmt.Errorf("tcp-flags %q: %v", s, err)
		}
		if v&^m != 0 {
			return TCPFlags{}, fmt.Errorf("tcp-flags %q: flags before / must be in the mask after it", s)
		}
		return TCPFlags{Set: true, Mask: m, Value: v}, nil
	}
	set, not, err := flags(s, true)
	if err != nil {
		return TCPFlags{}, fmt.Errorf("tcp-flags %q: %v", s, err)
	}
	return TCPFlags{Set: true, Mask: set | not, Value: set}, nil
}

// String gives the "syn,!ack" form, or "syn,ack / syn,ack" when two or
// more flags must all be set: the bare list reads otherwise in nftables
// (ambiguousTCPFlags), so rule list and save never write it.
func (f TCPFlags) String() string {
	if !f.Set {
		return ""
	}
	var parts []string
	for i, n := range tcpFlagNames {
		b := uint8(1) << i
		switch {
		case f.Mask&b == 0:
		case f.Value&b != 0:
			parts = append(parts, n)
		default:
			parts = append(parts, "!"+n)
		}
	}
	s := strings.Join(parts, ",")
	if f.Value == f.Mask && len(parts) > 1 {
		return s + " / " + s
	}
	return s
}

// ambiguousTCPFlags refuses s when it lists two or more flags, all to be
// set ("syn,ack"): xdpfw reads that as every flag set, nftables as any
// of them, so a drop rule written in nftables' sense drops far less than
// meant. One flag, a list with a "!" and "VALUE / MASK" read one way.
// NewRule refuses it (rule add); a file takes it with a warning, in the
// sense its release saved it (fileParser.rule).
func ambiguousTCPFlags(s string) error {
	f, err := ParseTCPFlags(s)
	if err != nil || strings.ContainsAny(s, "!/") || bits.OnesCount8(f.Mask) < 2 {
		return nil
	}
	return fmt.Errorf("%q means all these flags set, but nftables reads it as any of them: write %q for all, or a rule per flag for any", s, f.String())
}

// Matches reports whether a TCP header's flags byte passes.
func (f TCPFlags) Matches(flags uint8) bool { return flags&f.Mask == f.Value }

var icmpTypeNames = map[uint8]map[string]uint8{
	ProtoICMP: {
		"echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5,
		"echo-request": 8, "router-advertisement": 9, "router-solicitation": 10,
		"time-exceeded": 11, "parameter-problem": 12, "timestamp-request": 13,
		"timestamp-reply": 14,
	},
	ProtoICMPv6: {
		"destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3,
		"parameter-problem": 4, "echo-request": 128, "echo-reply": 129,
		"mld-listener-query": 130, "mld-listener-report": 131, "mld-listener-done": 132,
		"nd-router-solicit": 133, "nd-router-advert": 134, "nd-neighbor-solicit": 135,
		"nd-neighbor-advert": 136, "nd-redirect": 137,
	},
}

func parseICMPType(s string, proto uint8) (Opt8, error) {
	if v, ok := icmpTypeNames[proto][strings.ToLower(s)]; ok {
		return Opt8{Set: true, Val: v}, nil
	}
	if !allDigits(s) {
		return Opt8{}, fmt.Errorf("unknown %s %q (a number 0-255 or a name such as echo-request)", icmpKey(proto, false), s)
	}
	return parseOpt8(s, icmpKey(proto, false), 255)
}

func icmpTypeText(v Opt8, proto uint8) string {
	if !v.Set {
		return ""
	}
	for name, t := range icmpTypeNames[proto] {
		if t == v.Val {
			return name
		}
	}
	return strconv.Itoa(int(v.Val))
}

func parseOpt8(s, what string, max int) (Opt8, error) {
	if !allDigits(s) {
		return Opt8{}, fmt.Errorf("invalid %s %q (want a number 0-%d)", what, s, max)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > max {
		return Opt8{}, fmt.Errorf("%s %s out of range (0-%d)", what, s, max)
	}
	return Opt8{Set: true, Val: uint8(n)}, nil
}

func (o Opt8) String() string {
	if !o.Set {
		return ""
	}
	return strconv.Itoa(int(o.Val))
}

// ParseVLAN parses a VLAN id 0-4095; "untagged" too when allowed.
func ParseVLAN(s string, untagged bool) (VLAN, error) {
	if untagged && strings.EqualFold(s, "untagged") {
		return VLAN{Set: true, ID: VLANNone}, nil
	}
	if !allDigits(s) {
		if untagged {
			return VLAN{}, fmt.Errorf("invalid VLAN %q (want an id 0-4095 or untagged)", s)
		}
		return VLAN{}, fmt.Errorf("invalid VLAN %q (want an id 0-4095)", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > 4095 {
		return VLAN{}, fmt.Errorf("VLAN id %s out of range (0-4095)", s)
	}
	return VLAN{Set: true, ID: uint16(n)}, nil
}

func (v VLAN) String() string {
	switch {
	case !v.Set:
		return ""
	case v.ID == VLANNone:
		return "untagged"
	}
	return strconv.Itoa(int(v.ID))
}

// dscpNames are the standard code points' names (RFC 2474, 2597, 3246).
var dscpNames = func() map[string]uint8 {
	m := map[string]uint8{"ef": 46}
	for i := uint8(0); i < 8; i++ {
		m[fmt.Sprintf("cs%d", i)] = i << 3
	}
	for c := uint8(1); c <= 4; c++ {
		for d := uint8(1); d <= 3; d++ {
			m[fmt.Sprintf("af%d%d", c, d)] = c<<3 | d<<1
		}
	}
	return m
}()

// ParseDSCP parses a code point 0-63 or its name. Rules print numbers:
// names are accepted on input only, so a stored rule never depends on them.
func ParseDSCP(s string) (Opt8, error) {
	if v, ok := dscpNames[strings.ToLower(s)]; ok {
		return Opt8{Set: true, Val: v}, nil
	}
	if !allDigits(s) {
		return Opt8{}, fmt.Errorf("unknown DSCP %q (want 0-63, ef, cs0-cs7 or af11-af43)", s)
	}
	return parseOpt8(s, "DSCP", 63)
}

// parseRange parses N or LO-HI within 0..max.
func parseRange(s, what string, max int) (Range, error) {
	num := func(t string) (uint16, error) {
		if !allDigits(t) {
			return 0, fmt.Errorf("invalid %s %q (want a number 0-%d or LO-HI)", what, t, max)
		}
		n, err := strconv.Atoi(t)
		if err != nil || n > max {
			return 0, fmt.Errorf("%s %s out of range (0-%d)", what, t, max)
		}
		return uint16(n), nil
	}
	loS, hiS, isRange := strings.Cut(s, "-")
	lo, err := num(loS)
	if err != nil {
		return Range{}, err
	}
	hi := lo
	if isRange {
		if hi, err = num(hiS); err != nil {
			return Range{}, err
		}
	}
	if lo > hi {
		return Range{}, fmt.Errorf("invalid %s range %q: %d is above %d", what, s, lo, hi)
	}
	return Range{Set: true, Lo: lo, Hi: hi}, nil
}

// ParseIfaceName checks a Linux interface name: 1-15 bytes, no '/', ':'
// or white space (what the kernel's dev_valid_name allows, minus ':' for
// aliases, which never receive packets).
func ParseIfaceName(s string) (string, error) {
	if s == "" || len(s) > 15 || s == "." || s == ".." ||
		strings.ContainsAny(s, "/: \t\n") {
		return "", fmt.Errorf("invalid interface name %q (1-15 characters, no / : or spaces)", s)
	}
	return s, nil
}

// checkIfaceText refuses an interface name a rule cannot carry as text:
// one that is not UTF-8, or holds a control or unprintable character.
// The kernel takes any bytes but '/', ':' and white space, but a rule's
// name is printed (by rule list, where 0xff, tabwriter's escape, broke
// the table and a control character rewrote the terminal) and saved as
// YAML, which holds UTF-8 only: save panicked on such a rule, so the
// ruleset could no longer be saved. Checked where a rule comes in
// (NewRule), not by ParseIfaceName, which reads stored rules back: a
// state holding one from before stays readable, and rule del removes it.
func checkIfaceText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("invalid interface name %q (not UTF-8: a rule's interface is saved as text)", s)
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return fmt.Errorf("invalid interface name %q (control or unprintable character %U)", s, c)
		}
	}
	return nil
}
