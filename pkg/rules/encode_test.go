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
			`{"id":3,"prio":1000,"slot":7,"action":"drop","src":"10.0.0.0/8","proto":6,"dport":"22"}`},
		{Rule{ID: 9, Priority: 5, Action: Drop, Match: Match{Dst: pfx("2001:db8::/32"), Proto: proto(0)}}, 4095,
			`{"id":9,"prio":5,"slot":4095,"action":"drop","dst":"2001:db8::/32","proto":0}`},
		{Rule{ID: 2, Priority: 1, Action: Pass, Match: Match{Sport: ports(1000, 2000)}}, 1,
			`{"id":2,"prio":1,"slot":1,"action":"pass","sport":"1000-2000"}`},
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
		{`{"id":1,"prio":1,"slot":0,"action":"pass","src":"10.0.0.1/8"}`, "src: 10.0.0.1/8 has host bits set"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","dst":"nope"}`, `dst: invalid address "nope"`},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","proto":256}`, "proto 256 out of range"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","proto":"tcp"}`, "cannot unmarshal string"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","sport":"9-1"}`, `sport: invalid port range "9-1"`},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","dport":80}`, "cannot unmarshal number"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","proto":1,"dport":"80"}`, "need --proto tcp or udp (got icmp)"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","src":"10.0.0.0/8","dst":"::/0"}`, "different address families"},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","extra":1}`, `unknown field "extra"`},
		{`{"id":1,"prio":1,"slot":0,"action":"pass","src":"` + strings.Repeat("1", 500) + `"}`, "more than 500"},
	}
	for _, tt := range tests {
		_, _, err := DecodeRule([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DecodeRule(%.60s) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}
