package blocklist

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// maxFuzzInput bounds the fuzzer's inputs, and so its memory.
const maxFuzzInput = 64 << 10

// FuzzParse: no input makes Parse panic; what it returns is canonical
// (masked, of the family asked for, sorted, without duplicates), never a
// default route unless allowed, and reads back the same; its errors are
// one line and quote little.
func FuzzParse(f *testing.F) {
	f.Add([]byte("; Spamhaus DROP\n1.10.16.0/20 ; SBL256894\n192.0.2.0/24\n"), uint8(0))
	f.Add([]byte("2001:db8::/32 # doc\n2001:DB8:1::1\n10.0.0.0/8\r\n198.51.100.7\n"), uint8(1))
	f.Add([]byte("0.0.0.0/0\n::/0\n"), uint8(2))
	f.Add([]byte("10.1.2.3/8\nnonsense\n1.2.3.4 5.6.7.8\n"), uint8(3))
	f.Add([]byte(""), uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		if len(data) > maxFuzzInput {
			return
		}
		opt := Options{
			Name:              "f.txt",
			Family:            []rules.Family{rules.FamilyAny, rules.FamilyIPv4, rules.FamilyIPv6}[mode%3],
			SkipInvalid:       mode&4 != 0,
			AllowDefaultRoute: mode&8 != 0,
		}
		// A line past those reported is bad or not as a reported one is.
		for line := range bytes.Lines(data) {
			q4, q6, qerr := parseLine(line, opt.Family, false)
			p4, p6, err := parseLine(line, opt.Family, true)
			if (qerr != nil) != (err != nil) || q4 != p4 || q6 != p6 {
				t.Fatalf("%q unexplained: %x %v %v; explained: %x %v %v", line, q4, q6, qerr, p4, p6, err)
			}
		}
		l, err := Parse(bytes.NewReader(data), opt)
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, "\n") || len(msg) > 2000 {
				t.Fatalf("error of %d bytes or lines: %.200q", len(msg), msg)
			}
			if !opt.AllowDefaultRoute || !errors.Is(err, ErrDefaultRoute) {
				return
			}
			t.Fatalf("default route refused although allowed: %v", err)
		}
		var text strings.Builder
		for i, p := range l.Prefixes {
			if !p.IsValid() || p.Masked() != p {
				t.Fatalf("prefix %v is not canonical", p)
			}
			if opt.Family == rules.FamilyIPv4 && !p.Addr().Is4() || opt.Family == rules.FamilyIPv6 && !p.Addr().Is6() {
				t.Fatalf("prefix %v of the wrong family for %v", p, opt.Family)
			}
			if p.Bits() == 0 && !opt.AllowDefaultRoute {
				t.Fatalf("default route %v taken", p)
			}
			if i > 0 && !less(l.Prefixes[i-1], p) {
				t.Fatalf("%v then %v: not sorted or a duplicate", l.Prefixes[i-1], p)
			}
			fmt.Fprintln(&text, p)
		}
		back, err := Parse(strings.NewReader(text.String()), Options{Family: opt.Family, AllowDefaultRoute: true})
		if err != nil || !reflect.DeepEqual(back.Prefixes, l.Prefixes) || back.Duplicates != 0 {
			t.Fatalf("the list does not read back: %v", err)
		}
	})
}

// less is the order of List.Prefixes: IPv4 first, then address, length.
func less(a, b netip.Prefix) bool {
	if a.Addr().Is4() != b.Addr().Is4() {
		return a.Addr().Is4()
	}
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c < 0
	}
	return a.Bits() < b.Bits()
}
