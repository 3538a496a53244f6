package loader

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func ports(lo, hi uint16) rules.PortRange { return rules.PortRange{Set: true, Lo: lo, Hi: hi} }

func proto(n uint8) rules.Proto { return rules.Proto{Set: true, Num: n} }

// def builds a stored definition: the header, then key/text pairs.
func def(id, slot uint32, prio uint16, action byte, conds ...string) string {
	b := []byte{byte(id), byte(id >> 8), byte(id >> 16), byte(id >> 24),
		byte(slot), byte(slot >> 8), byte(slot >> 16), byte(slot >> 24),
		byte(prio), byte(prio >> 8), action}
	for _, c := range conds {
		b = append(b, byte(len(c)))
		b = append(b, c...)
	}
	return string(b)
}

func TestEncodeRuleDef(t *testing.T) {
	tests := []struct {
		r    rules.Rule
		slot uint32
		want string
	}{
		{rules.Rule{ID: 1, Priority: 0, Action: rules.Pass}, 0, def(1, 0, 0, 2)},
		{rules.Rule{ID: 3, Priority: 1000, Action: rules.Drop, Match: rules.Match{Src: pfx("10.0.0.0/8"), Proto: proto(6), Dport: ports(22, 22)}}, 7,
			def(3, 7, 1000, 1, "src", "10.0.0.0/8", "proto", "tcp", "dport", "22")},
		{rules.Rule{ID: 9, Priority: 5, Action: rules.Drop, Match: rules.Match{Dst: pfx("2001:db8::/32"), Proto: proto(0)}}, 4095,
			def(9, 4095, 5, 1, "dst", "2001:db8::/32", "proto", "0")},
		{rules.Rule{ID: 2, Priority: 1, Action: rules.Pass, Match: rules.Match{Sport: ports(1000, 2000)}}, 1,
			def(2, 1, 1, 2, "sport", "1000-2000")},
		{rules.Rule{ID: 4, Priority: 2, Action: rules.Drop, Match: rules.Match{Proto: proto(6), TCPFlags: rules.TCPFlags{Set: true, Mask: 0x12, Value: 0x02},
			VLAN: rules.VLAN{Set: true, ID: rules.VLANNone}, Fragment: rules.FragNotFrag, TTL: rules.Range{Set: true, Lo: 0, Hi: 1}}}, 3,
			def(4, 3, 2, 1, "proto", "tcp", "fragment", "none", "tcp-flags", "syn,!ack", "vlan", "untagged", "ttl", "0-1")},
		// The comment goes last, after every condition.
		{rules.Rule{ID: 5, Priority: 7, Action: rules.Pass, Match: rules.Match{Proto: proto(17), Dport: ports(53, 53)}, Comment: "dns, résolveur"}, 2,
			def(5, 2, 7, 2, "proto", "udp", "dport", "53", "comment", "dns, résolveur")},
		// The log flag after the conditions, before the comment.
		{rules.Rule{ID: 6, Priority: 1, Action: rules.Drop, Match: rules.Match{Proto: proto(6), Dport: ports(23, 23)}, Log: true, Comment: "telnet"}, 4,
			def(6, 4, 1, 1, "proto", "tcp", "dport", "23", "log", "true", "comment", "telnet")},
		{rules.Rule{ID: 7, Action: rules.Pass, Log: true}, 5, def(7, 5, 0, 2, "log", "true")},
	}
	for _, tt := range tests {
		b, err := encodeRule(tt.r, tt.slot)
		if err != nil || string(b) != tt.want {
			t.Errorf("encodeRule(%v) = %q, %v; want %q", tt.r, b, err, tt.want)
		}
	}
}

func TestEncodeRuleDefErrors(t *testing.T) {
	if _, err := encodeRule(rules.Rule{Action: rules.Pass}, 0); err == nil {
		t.Error("ID 0 accepted")
	}
	if _, err := encodeRule(rules.Rule{ID: 1}, 0); err == nil || !strings.Contains(err.Error(), "action not set") {
		t.Errorf("invalid rule: %v", err)
	}
}

func TestRuleDefRoundTrip(t *testing.T) {
	full := "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"
	rs := []rules.Rule{
		{ID: 1, Action: rules.Pass},
		{ID: 4294967295, Priority: rules.MaxPriority, Action: rules.Drop, Match: rules.Match{
			Src: pfx(full), Dst: pfx("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128"),
			Proto: proto(17), Sport: ports(65534, 65535), Dport: ports(10000, 65535)}},
		{ID: 5, Priority: 0, Action: rules.Drop, Match: rules.Match{Src: pfx("::ffff:10.0.0.0/104"), Proto: proto(58)}},
		{ID: 6, Priority: 17, Action: rules.Pass, Match: rules.Match{Src: pfx("0.0.0.0/0"), Dst: pfx("1.2.3.4/32"), Proto: proto(255)}},
		{ID: 7, Priority: 17, Action: rules.Pass, Match: rules.Match{Dport: ports(0, 0)}},
		{ID: 8, Action: rules.Drop, Match: rules.Match{Proto: proto(58), ICMPType: rules.Opt8{Set: true, Val: 135}, ICMPCode: rules.Opt8{Set: true, Val: 0},
			Family: rules.FamilyIPv6, InnerVLAN: rules.VLAN{Set: true, ID: 4095}, VLAN: rules.VLAN{Set: true, ID: 0}, DSCP: rules.Opt8{Set: true, Val: 63},
			Length: rules.Range{Set: true, Lo: 0, Hi: 65535}, Iface: "eth0.100", Fragment: rules.FragAnyFrag}},
		{ID: 9, Action: rules.Drop, Match: rules.Match{Proto: proto(1), ICMPType: rules.Opt8{Set: true, Val: 200}, Fragment: rules.FragFirstOnly, TTL: rules.Range{Set: true, Lo: 255, Hi: 255}}},
		{ID: 10, Action: rules.Drop, Match: rules.Match{Proto: proto(6), TCPFlags: rules.TCPFlags{Set: true, Mask: 0xff, Value: 0}, Fragment: rules.FragFirstOnly}},
		{ID: 11, Action: rules.Pass, Comment: strings.Repeat("é", rules.MaxComment/2)},
		{ID: 13, Action: rules.Drop, Log: true, Comment: "logged"},
		{ID: 14, Action: rules.Pass, Match: rules.Match{Proto: proto(17)}, Log: true},
		{ID: 12, Action: rules.Drop, Match: rules.Match{Src: pfx(full), Dst: pfx(full), Proto: proto(6), Sport: ports(65534, 65535), Dport: ports(10000, 65535),
			TCPFlags: rules.TCPFlags{Set: true, Mask: 0xff, Value: 0x12}, Fragment: rules.FragFirstOnly, Iface: "eth0.100", TTL: rules.Range{Set: true, Lo: 1, Hi: 255},
			Length: rules.Range{Set: true, Lo: 60, Hi: 65535}, DSCP: rules.Opt8{Set: true, Val: 46}, VLAN: rules.VLAN{Set: true, ID: 4094},
			InnerVLAN: rules.VLAN{Set: true, ID: 4093}, Family: rules.FamilyIPv6}, Comment: strings.Repeat("c", rules.MaxComment)},
	}
	for i, r := range rs {
		b, err := encodeRule(r, uint32(i*3))
		if err != nil {
			t.Fatalf("encodeRule(%v): %v", r, err)
		}
		if len(b) > maxRuleDefBytes {
			t.Errorf("%d bytes", len(b))
		}
		var got rules.Rule
		slot, err := decodeRule(b, &got)
		if err != nil || got != r || slot != uint32(i*3) {
			t.Errorf("decodeRule(%s) = %v, %d, %v; want %v, %d", b, got, slot, err, r, i*3)
		}
	}
}

// A definition stored before comments existed decodes as the rule
// without one, and a commented rule's definition is that same form with
// the comment appended: old states stay readable.
func TestRuleDefWithoutComment(t *testing.T) {
	old := def(3, 1, 10, 1, "proto", "tcp", "dport", "22")
	var r rules.Rule
	slot, err := decodeRule([]byte(old), &r)
	if err != nil || r.Comment != "" || slot != 1 || r.Match.Dport != ports(22, 22) {
		t.Fatalf("decodeRule(old form) = %v, %d, %v", r, slot, err)
	}
	r.Comment = "ssh"
	b, err := encodeRule(r, 1)
	if err != nil || string(b) != old+"\x07comment\x03ssh" {
		t.Fatalf("encodeRule(commented) = %q, %v", b, err)
	}
}

func TestDecodeRuleDefErrors(t *testing.T) {
	tests := []struct {
		in, want string // want: substring of the error
	}{
		{``, "shorter than the 11-byte header"},
		{def(1, 0, 1, 2)[:10], "shorter than the 11-byte header"},
		{def(0, 0, 1, 2), "id 0"},
		{def(1, 0, 1, 0), "action not set"},
		{def(1, 0, 1, 3), "invalid action 3"},
		{def(1, 0, 1, 2) + "\x03src", "src: truncated"},
		{def(1, 0, 1, 2) + "\x05sr", "condition key: truncated"},
		{def(1, 0, 1, 2, "src", "10.0.0.0/8") + "\x00", "truncated"},
		{def(1, 0, 1, 2, "src", "10.0.0.1/8"), "src: 10.0.0.1/8 has host bits set"},
		{def(1, 0, 1, 2, "dst", "nope"), `dst: invalid address "nope"`},
		{def(1, 0, 1, 2, "proto", "256"), "protocol 256 out of range"},
		{def(1, 0, 1, 2, "sport", "9-1"), `sport: invalid port range "9-1"`},
		{def(1, 0, 1, 2, "proto", "1", "dport", "80"), "sport/dport need proto tcp or udp (got icmp)"},
		{def(1, 0, 1, 2, "dport", "80", "proto", "1"), "condition proto repeated, out of order"},
		{def(1, 0, 1, 2, "src", "10.0.0.0/8", "dst", "::/0"), "different address families"},
		{def(1, 0, 1, 2, "colour", "red"), `unknown condition "colour"`},
		{def(1, 0, 1, 2, "dport", "80", "dport", "81"), "condition dport repeated, out of order"},
		{def(1, 0, 1, 2, "proto", "udp", "tcp-flags", "syn"), "tcp-flags needs proto tcp (got udp)"},
		{def(1, 0, 1, 2, "fragment", "non-first", "dport", "80"), "never matches ports"},
		{def(1, 0, 1, 2, "vlan", "4096"), "VLAN id 4096 out of range"},
		{def(1, 0, 1, 2) + strings.Repeat("\x00", 490), "more than 500"},
		{def(1, 0, 1, 2, "comment", "a", "dport", "80"), "condition dport repeated, out of order or after the comment"},
		{def(1, 0, 1, 2, "comment", "a", "comment", "b"), "comment repeated"},
		{def(1, 0, 1, 2, "comment", "two\nlines"), "comment: control or unprintable character"},
		{def(1, 0, 1, 2, "comment", strings.Repeat("x", 129)), "comment: 129 bytes, at most 128"},
	}
	for _, tt := range tests {
		_, err := decodeRule([]byte(tt.in), new(rules.Rule))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("decodeRule(%.60q) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}
