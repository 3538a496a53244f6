package rules

import (
	"strings"
	"testing"
)

func TestEncodeRule(t *testing.T) {
	tests := []struct {
		r    Rule
		slot uint32
		want string
	}{
		{Rule{ID: 1, Priority: 0, Action: Pass}, 0, `{"id":1,"prio":0,"slot":0,"action":"pass"}`},
		{Rule{ID: 3, Priority: 1000, Action: Drop, Match: Match{Src: pfx("10.0.0.0/8"), Proto: proto(6), Dport: ports(22, 22)}}, 7,
			`{"id":3,"prio":1000,"slot":7,"action":"drop","match":{"dport":"22","proto":"tcp","src":"10.0.0.0/8"}}`},
		{Rule{ID: 9, Priority: 5, Action: Drop, Match: Match{Dst: pfx("2001:db8::/32"), Proto: proto(0)}}, 4095,
			`{"id":9,"prio":5,"slot":4095,"action":"drop","match":{"dst":"2001:db8::/32","proto":"0"}}`},
		{Rule{ID: 2, Priority: 1, Action: Pass, Match: Match{Sport: ports(1000, 2000)}}, 1,
			`{"id":2,"prio":1,"slot":1,"action":"pass","match":{"sport":"1000-2000"}}`},
		{Rule{ID: 4, Priority: 2, Action: Drop, Match: Match{Proto: proto(6), TCPFlags: TCPFlags{Set: true, Mask: 0x12, Value: 0x02},
			VLAN: VLAN{Set: true, ID: VLANNone}, Fragment: FragNotFrag, TTL: Range{Set: true, Lo: 0, Hi: 1}}}, 3,
			`{"id":4,"prio":2,"slot":3,"action":"drop","match":{"fragment":"none","proto":"tcp","tcp-flags":"syn,!ack","ttl":"0-1","vlan":"untagged"}}`},
	}
	for _, tt := range tests {
		b, err := EncodeRule(tt.r, tt.slot)
		if err != nil || string(b) != tt.want {
			t.Errorf("EncodeRule(%v) = %s, %v; want %s", tt.r, b, err, tt.want)
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
		{``, "EOF"},
		{`[]`, "cannot unmarshal array"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass"} x`, "trailing data"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass"}{}`, "trailing data"},
		{`{"prio":1,"slot":0,"action":"pass"}`, "no id"},
		{`{"id":0,"prio":1,"slot":0,"action":"pass"}`, "id 0"},
		{`{"id":-1,"prio":1,"slot":0,"action":"pass"}`, "cannot unmarshal number -1"},
		{`{"id":1,"slot":0,"action":"pass"}`, "no prio"},
		{`{"id":1,"prio":65536,"slot":0,"action":"pass"}`, "prio 65536 out of range"},
		{`{"id":1,"prio":1,"action":"pass"}`, "no slot"},
		{`{"id":1,"prio":1,"slot":0}`, `unknown action ""`},
		{`{"id":1,"prio":1,"slot":0,"action":"accept"}`, `unknown action "accept"`},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","match":{"src":"10.0.0.1/8"}}`, "src: 10.0.0.1/8 has host bits set"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","match":{"dst":"nope"}}`, `dst: invalid address "nope"`},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","match":{"proto":"256"}}`, "protocol 256 out of range"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","match":{"sport":"9-1"}}`, `sport: invalid port range "9-1"`},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","match":{"dport":80}}`, "cannot unmarshal number"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","match":{"proto":"1","dport":"80"}}`, "need --proto tcp or udp (got icmp)"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","match":{"src":"10.0.0.0/8","dst":"::/0"}}`, "different address families"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","match":{"colour":"red"}}`, `unknown condition "colour"`},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","match":{"proto":"udp","tcp-flags":"syn"}}`, "tcp-flags needs proto tcp (got udp)"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","match":{"fragment":"non-first","dport":"80"}}`, "never matches ports"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","match":{"vlan":"4096"}}`, "VLAN id 4096 out of range"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","extra":1}`, `unknown field "extra"`},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","match":{"iface":"` + strings.Repeat("1", 500) + `"}}`, "more than 500"},
	}
	for _, tt := range tests {
		_, _, err := DecodeRule([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DecodeRule(%.60s) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}
