package rules

import (
	"strings"
	"testing"
)

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

func TestEncodeRule(t *testing.T) {
	tests := []struct {
		r    Rule
		slot uint32
		want string
	}{
		{Rule{ID: 1, Priority: 0, Action: Pass}, 0, def(1, 0, 0, 2)},
		{Rule{ID: 3, Priority: 1000, Action: Drop, Match: Match{Src: pfx("10.0.0.0/8"), Proto: proto(6), Dport: ports(22, 22)}}, 7,
			def(3, 7, 1000, 1, "src", "10.0.0.0/8", "proto", "tcp", "dport", "22")},
		{Rule{ID: 9, Priority: 5, Action: Drop, Match: Match{Dst: pfx("2001:db8::/32"), Proto: proto(0)}}, 4095,
			def(9, 4095, 5, 1, "dst", "2001:db8::/32", "proto", "0")},
		{Rule{ID: 2, Priority: 1, Action: Pass, Match: Match{Sport: ports(1000, 2000)}}, 1,
			def(2, 1, 1, 2, "sport", "1000-2000")},
		{Rule{ID: 4, Priority: 2, Action: Drop, Match: Match{Proto: proto(6), TCPFlags: TCPFlags{Set: true, Mask: 0x12, Value: 0x02},
			VLAN: VLAN{Set: true, ID: VLANNone}, Fragment: FragNotFrag, TTL: Range{Set: true, Lo: 0, Hi: 1}}}, 3,
			def(4, 3, 2, 1, "proto", "tcp", "fragment", "none", "tcp-flags", "syn,!ack", "vlan", "untagged", "ttl", "0-1")},
	}
	for _, tt := range tests {
		b, err := EncodeRule(tt.r, tt.slot)
		if err != nil || string(b) != tt.want {
			t.Errorf("EncodeRule(%v) = %q, %v; want %q", tt.r, b, err, tt.want)
		}
	}
}

func TestEncodeRuleErrors(t *testing.T) {
	if _, err := EncodeRule(Rule{Action: Pass}, 0); err == nil {
		t.Error("ID 0 accepted")
	}
	if _, err := EncodeRule(Rule{ID: 1}, 0); err == nil || !strings.Contains(err.Error(), "action not set") {
		t.Errorf("invalid rule: %v", err)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	full := "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"
	rules := []Rule{
		{ID: 1, Action: Pass},
		{ID: 4294967295, Priority: MaxPriority, Action: Drop, Match: Match{
			Src: pfx(full), Dst: pfx("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128"),
			Proto: proto(17), Sport: ports(65534, 65535), Dport: ports(10000, 65535)}},
		{ID: 5, Priority: 0, Action: Drop, Match: Match{Src: pfx("::ffff:10.0.0.0/104"), Proto: proto(58)}},
		{ID: 6, Priority: 17, Action: Pass, Match: Match{Src: pfx("0.0.0.0/0"), Dst: pfx("1.2.3.4/32"), Proto: proto(255)}},
		{ID: 7, Priority: 17, Action: Pass, Match: Match{Dport: ports(0, 0)}},
		{ID: 8, Action: Drop, Match: Match{Proto: proto(58), ICMPType: Opt8{true, 135}, ICMPCode: Opt8{true, 0},
			Family: FamilyIPv6, InnerVLAN: VLAN{true, 4095}, VLAN: VLAN{true, 0}, DSCP: Opt8{true, 63},
			Length: Range{true, 0, 65535}, Iface: "eth0.100", Fragment: FragAnyFrag}},
		{ID: 9, Action: Drop, Match: Match{Proto: proto(1), ICMPType: Opt8{true, 200}, Fragment: FragFirstOnly, TTL: Range{true, 255, 255}}},
		{ID: 10, Action: Drop, Match: Match{Proto: proto(6), TCPFlags: TCPFlags{true, 0xff, 0}, Fragment: FragFirstOnly}},
	}
	for i, r := range rules {
		b, err := EncodeRule(r, uint32(i*3))
		if err != nil {
			t.Fatalf("EncodeRule(%v): %v", r, err)
		}
		if len(b) > MaxRuleDefBytes {
			t.Errorf("%d bytes", len(b))
		}
		got, slot, err := DecodeRule(b)
		if err != nil || got != r || slot != uint32(i*3) {
			t.Errorf("DecodeRule(%s) = %v, %d, %v; want %v, %d", b, got, slot, err, r, i*3)
		}
	}
}

func TestDecodeRuleErrors(t *testing.T) {
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
		{def(1, 0, 1, 2, "proto", "1", "dport", "80"), "need --proto tcp or udp (got icmp)"},
		{def(1, 0, 1, 2, "dport", "80", "proto", "1"), "condition proto repeated or out of order"},
		{def(1, 0, 1, 2, "src", "10.0.0.0/8", "dst", "::/0"), "different address families"},
		{def(1, 0, 1, 2, "colour", "red"), `unknown condition "colour"`},
		{def(1, 0, 1, 2, "dport", "80", "dport", "81"), "condition dport repeated or out of order"},
		{def(1, 0, 1, 2, "proto", "udp", "tcp-flags", "syn"), "tcp-flags needs proto tcp (got udp)"},
		{def(1, 0, 1, 2, "fragment", "non-first", "dport", "80"), "never matches ports"},
		{def(1, 0, 1, 2, "vlan", "4096"), "VLAN id 4096 out of range"},
		{def(1, 0, 1, 2) + strings.Repeat("\x00", 490), "more than 500"},
	}
	for _, tt := range tests {
		_, _, err := DecodeRule([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DecodeRule(%.60q) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}
