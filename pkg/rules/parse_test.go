package rules

import (
	"net/netip"
	"testing"
)

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in      string
		want    string // canonical prefix, when no error
		wantErr string // exact error
	}{
		{in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{in: "10.0.0.1", want: "10.0.0.1/32"},
		{in: "0.0.0.0/0", want: "0.0.0.0/0"},
		{in: "2001:db8::/32", want: "2001:db8::/32"},
		{in: "2001:db8::1", want: "2001:db8::1/128"},
		{in: "::/0", want: "::/0"},
		{in: "::ffff:10.0.0.1", want: "::ffff:10.0.0.1/128"},
		{in: "::ffff:10.0.0.0/104", want: "::ffff:10.0.0.0/104"},
		{in: "10.0.0.0/08", wantErr: `invalid prefix "10.0.0.0/08": prefix length "08" has a leading zero (write /8)`},
		{in: "2001:db8::/032", wantErr: `invalid prefix "2001:db8::/032": prefix length "032" has a leading zero (write /32)`},
		{in: "0.0.0.0/00", wantErr: `invalid prefix "0.0.0.0/00": prefix length "00" has a leading zero (write /0)`},
		{in: "10.0.0.0/033", wantErr: `invalid prefix "10.0.0.0/033": prefix length 033 out of range for IPv4 (0-32)`},
		{in: "10.0.0.1/8", wantErr: "10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)"},
		{in: "2001:db8::1/32", wantErr: "2001:db8::1/32 has host bits set (did you mean 2001:db8::/32?)"},
		{in: "", wantErr: "empty address"},
		{in: "10.0.0.0/", wantErr: `invalid prefix "10.0.0.0/": missing prefix length after /`},
		{in: "/8", wantErr: `invalid prefix "/8": missing address`},
		{in: "10.0.0.0/33", wantErr: `invalid prefix "10.0.0.0/33": prefix length 33 out of range for IPv4 (0-32)`},
		{in: "2001:db8::/129", wantErr: `invalid prefix "2001:db8::/129": prefix length 129 out of range for IPv6 (0-128)`},
		{in: "10.0.0.0/-1", wantErr: `invalid prefix "10.0.0.0/-1": prefix length "-1" is not a number`},
		{in: "10.0.0.0/8/8", wantErr: `invalid prefix "10.0.0.0/8/8": prefix length "8/8" is not a number`},
		{in: "10.0.0.300", wantErr: `invalid address "10.0.0.300": IPv4 field has value >255`},
		{in: "10.0.0.300/8", wantErr: `invalid prefix "10.0.0.300/8": IPv4 field has value >255`},
		{in: "example.com", wantErr: `invalid address "example.com": unexpected character (at "example.com")`},
		{in: "fe80::1%eth0", wantErr: `invalid address "fe80::1%eth0": zone "eth0" not allowed`},
	}
	for _, tt := range tests {
		got, err := ParsePrefix(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParsePrefix(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// An IPv4-mapped address written as IPv6 must stay IPv6: otherwise a rule
// for ::ffff:10.0.0.1 would start matching IPv4 frames.
func TestParsePrefixMappedStaysIPv6(t *testing.T) {
	p, err := ParsePrefix("::ffff:10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Addr().Is4() || !p.Addr().Is4In6() || p.Bits() != 128 {
		t.Errorf("got %v (Is4=%v), want an IPv6 /128", p, p.Addr().Is4())
	}
}

func TestParsePorts(t *testing.T) {
	tests := []struct {
		in      string
		want    PortRange
		wantErr string
	}{
		{in: "80", want: PortRange{Set: true, Lo: 80, Hi: 80}},
		{in: "0", want: PortRange{Set: true, Lo: 0, Hi: 0}},
		{in: "65535", want: PortRange{Set: true, Lo: 65535, Hi: 65535}},
		{in: "1000-2000", want: PortRange{Set: true, Lo: 1000, Hi: 2000}},
		{in: "7-7", want: PortRange{Set: true, Lo: 7, Hi: 7}},
		{in: "0-65535", want: PortRange{Set: true, Lo: 0, Hi: 65535}},
		{in: "70000", wantErr: "port 70000 out of range (0-65535)"},
		{in: "99999999999999999999", wantErr: "port 99999999999999999999 out of range (0-65535)"},
		{in: "20-10", wantErr: `invalid port range "20-10": 20 is above 10`},
		{in: "1-70000", wantErr: `invalid port range "1-70000": port 70000 out of range (0-65535)`},
		{in: "", wantErr: "empty port"},
		{in: "http", wantErr: `invalid port "http" (want a number 0-65535)`},
		{in: "+80", wantErr: `invalid port "+80" (want a number 0-65535)`},
		{in: " 80", wantErr: `invalid port " 80" (want a number 0-65535)`},
		{in: "-5", wantErr: `invalid port range "-5" (want PORT or LOW-HIGH)`},
		{in: "5-", wantErr: `invalid port range "5-" (want PORT or LOW-HIGH)`},
		{in: "1-2-3", wantErr: `invalid port range "1-2-3" (want PORT or LOW-HIGH)`},
		{in: "a-b", wantErr: `invalid port range "a-b": invalid port "a" (want a number 0-65535)`},
	}
	for _, tt := range tests {
		got, err := ParsePorts(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParsePorts(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParsePorts(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if back := got.String(); back != tt.in && !(tt.in == "7-7" && back == "7") {
			t.Errorf("ParsePorts(%q).String() = %q", tt.in, back)
		}
	}
}

func TestParseProto(t *testing.T) {
	tests := []struct {
		in      string
		want    Proto
		str     string
		wantErr string
	}{
		{in: "tcp", want: Proto{true, 6}, str: "tcp"},
		{in: "TCP", want: Proto{true, 6}, str: "tcp"},
		{in: "Udp", want: Proto{true, 17}, str: "udp"},
		{in: "icmp", want: Proto{true, 1}, str: "icmp"},
		{in: "ICMPv6", want: Proto{true, 58}, str: "icmpv6"},
		{in: "6", want: Proto{true, 6}, str: "tcp"},
		{in: "0", want: Proto{true, 0}, str: "0"},
		{in: "47", want: Proto{true, 47}, str: "47"},
		{in: "255", want: Proto{true, 255}, str: "255"},
		{in: "256", wantErr: "protocol 256 out of range (0-255)"},
		{in: "sctp", wantErr: `unknown protocol "sctp" (want tcp, udp, icmp, icmpv6 or a number 0-255)`},
		{in: "", wantErr: `unknown protocol "" (want tcp, udp, icmp, icmpv6 or a number 0-255)`},
		{in: "-1", wantErr: `unknown protocol "-1" (want tcp, udp, icmp, icmpv6 or a number 0-255)`},
	}
	for _, tt := range tests {
		got, err := ParseProto(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseProto(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want || got.String() != tt.str {
			t.Errorf("ParseProto(%q) = %+v (%q), %v; want %+v (%q)", tt.in, got, got.String(), err, tt.want, tt.str)
		}
	}
}

func TestParseAction(t *testing.T) {
	for in, want := range map[string]Action{"pass": Pass, "drop": Drop, "DROP": Drop, "Pass": Pass} {
		got, err := ParseAction(in)
		if err != nil || got != want {
			t.Errorf("ParseAction(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "accept", "deny", "reject"} {
		_, err := ParseAction(in)
		want := `unknown action "` + in + `" (want pass or drop)`
		if err == nil || err.Error() != want {
			t.Errorf("ParseAction(%q) error = %v, want %q", in, err, want)
		}
	}
	if _, err := ParsePolicy("allow"); err == nil || err.Error() != `unknown policy "allow" (want pass or drop)` {
		t.Errorf("ParsePolicy(allow) error = %v", err)
	}
	if a, err := ParsePolicy("drop"); err != nil || a != Drop {
		t.Errorf("ParsePolicy(drop) = %v, %v", a, err)
	}
}

func TestStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Pass.String(), "pass"},
		{Drop.String(), "drop"},
		{Action(0).String(), "action(0)"},
		{Proto{}.String(), ""},
		{PortRange{}.String(), ""},
		{PortRange{Set: true, Lo: 80, Hi: 80}.String(), "80"},
		{PortRange{Set: true, Lo: 1000, Hi: 2000}.String(), "1000-2000"},
		{Match{}.String(), "any"},
		{Match{Proto: Proto{Num: 6}}.String(), "any"}, // Set is what counts
		{Match{
			Src:   netip.MustParsePrefix("10.0.0.0/8"),
			Dst:   netip.MustParsePrefix("2001:db8::/32"),
			Proto: Proto{true, 6},
			Sport: PortRange{true, 1, 2},
			Dport: PortRange{true, 80, 80},
		}.String(), "src 10.0.0.0/8 dst 2001:db8::/32 proto tcp sport 1-2 dport 80"},
		{Match{Dst: netip.MustParsePrefix("10.1.2.3/32"), Proto: Proto{true, 132}}.String(), "dst 10.1.2.3/32 proto 132"},
		{Rule{ID: 3, Priority: 1000, Action: Drop, Match: Match{Src: netip.MustParsePrefix("10.0.0.0/8")}}.String(),
			"id 3 priority 1000 drop src 10.0.0.0/8"},
		{Rule{Priority: 5, Action: Pass}.String(), "priority 5 pass any"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("#%d: got %q, want %q", i, tt.got, tt.want)
		}
	}
}
