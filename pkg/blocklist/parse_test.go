package blocklist

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// TestParseFormats: Spamhaus DROP and FireHOL lines, comments, blanks,
// whitespace, CRLF, both families, bare addresses, duplicates.
func TestParseFormats(t *testing.T) {
	in := strings.Join([]string{
		"; Spamhaus DROP List 2026/11/25",
		"1.10.16.0/20 ; SBL256894",
		"  192.0.2.0/24\t;SBL1  ",
		"# FireHOL netset",
		"198.51.100.7",
		"",
		"\t",
		"2001:db8::/32 # doc",
		"2001:DB8:1::1",
		"10.0.0.0/8\r",
		"0.0.0.0/0",
		"::/0",
		"192.0.2.0/24", // duplicate
		"1.10.16.0/20", // duplicate
		"2001:db8::/32",
		"255.255.255.255",
		"1.0.0.0/8",
		"192.0.2.0/25",
	}, "\n")
	set, err := Parse(strings.NewReader(in), Options{Name: "drop.txt", AllowDefaultRoute: true})
	if err != nil {
		t.Fatal(err)
	}
	want := prefixes("0.0.0.0/0", "1.0.0.0/8", "1.10.16.0/20", "10.0.0.0/8", "192.0.2.0/24", "192.0.2.0/25",
		"198.51.100.7/32", "255.255.255.255/32", "::/0", "2001:db8::/32", "2001:db8:1::1/128")
	if !reflect.DeepEqual(set.Prefixes, want) {
		t.Errorf("prefixes\n got %v\nwant %v", set.Prefixes, want)
	}
	if set.Duplicates != 3 || set.Skipped.Total != 0 {
		t.Errorf("%d duplicates (want 3), skipped %v", set.Duplicates, set.Skipped)
	}
}

// TestParseErrors: every bad line is reported with its number; the list
// is capped; a single bad line reads as name:line.
func TestParseErrors(t *testing.T) {
	cases := []struct {
		line string
		want string
	}{
		{"10.1.2.3/8", "10.1.2.3/8 has host bits set (did you mean 10.0.0.0/8?)"},
		{"2001:db8::1/32", "has host bits set (did you mean 2001:db8::/32?)"},
		{"10.0.0.256", `invalid address "10.0.0.256"`},
		{"10.0.0.1/33", "out of range"},
		{"010.0.0.1", "leading zero"},
		{"1.2.3.4 5.6.7.8", `unexpected "5.6.7.8" after 1.2.3.4`},
		{"example.com", `invalid address "example.com"`},
		{"fe80::1%eth0", "zone"},
		{"1.2.3.4/", "missing prefix length"},
		{strings.Repeat("a", 200), "not an address or prefix (200 bytes)"},
		// As set add refuses them: IPv6, they would match no IPv4 frame.
		{"::ffff:192.0.2.1", "::ffff:192.0.2.1/128 is IPv4 192.0.2.1/32 written as IPv6 (IPv4-mapped): it would match only crafted IPv6 frames, never IPv4's (write 192.0.2.1/32)"},
		{"::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104 is IPv4 10.0.0.0/8 written as IPv6 (IPv4-mapped): it would match only crafted IPv6 frames, never IPv4's (write 10.0.0.0/8)"},
	}
	for _, tc := range cases {
		_, err := Parse(strings.NewReader("# header\n\n"+tc.line+"\n"), Options{Name: "x.txt"})
		var se *Error
		if !errors.As(err, &se) || se.Total != 1 || se.Lines[0].Line != 3 {
			t.Errorf("%q: %v, want one error on line 3", tc.line, err)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "x.txt:3: ") || !strings.Contains(msg, tc.want) {
			t.Errorf("%q: %q, want x.txt:3: ...%s", tc.line, msg, tc.want)
		}
	}

	var b strings.Builder
	for i := range 25 {
		fmt.Fprintf(&b, "192.0.2.%d\nbad%d\n", i, i)
	}
	_, err := Parse(strings.NewReader(b.String()), Options{Name: "many.txt"})
	var se *Error
	if !errors.As(err, &se) || se.Total != MaxReported || len(se.Lines) != MaxReported || se.Stopped != 22 {
		t.Fatalf("25 bad lines: %v", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "many.txt: more than 10 bad lines (2, 4, 6, 8, 10, 12, 14, 16, 18, 20; reading stopped at line 22, the 11th bad one): line 2: ") ||
		!strings.Contains(msg, "line 20: ") || strings.Contains(msg, "line 22: ") || strings.Contains(msg, "\n") {
		t.Errorf("message %q", msg)
	}
}

// TestStrictStops: without SkipInvalid, a file that is not a blocklist
// is read only up to the bad line after those reported, not to its end
// (a 159 MB one of 10M bad lines took 47 s and 1.5 GB, retried by serve
// every 30 s).
func TestStrictStops(t *testing.T) {
	r := strings.NewReader(strings.Repeat("this is not a blocklist\n", 1_000_000))
	_, err := Parse(r, Options{Name: "junk"})
	var se *Error
	if !errors.As(err, &se) || len(se.Lines) != MaxReported || se.Stopped != MaxReported+1 {
		t.Fatalf("got %v", err)
	}
	if r.Len() == 0 {
		t.Errorf("read all %d bytes of the input, want it left once the report is full", r.Size())
	}
}

// TestSkipInvalid: the good entries come back with the bad lines listed,
// and no error.
func TestSkipInvalid(t *testing.T) {
	var b strings.Builder
	for i := range 25 {
		fmt.Fprintf(&b, "192.0.2.%d\nbad%d\n", i, i)
	}
	set, err := Parse(strings.NewReader(b.String()), Options{SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Prefixes) != 25 || set.Skipped.Total != 25 || len(set.Skipped.Lines) != 25 || set.Skipped.Lines[24].Line != 50 {
		t.Errorf("%d prefixes, skipped %v", len(set.Prefixes), set.Skipped)
	}
}

// TestSkipInvalidBounded: a list of nothing but bad lines keeps the first
// MaxSkipped and counts the rest, not an error for each.
func TestSkipInvalidBounded(t *testing.T) {
	const n = 100_000
	in := strings.Repeat("bad\n", n-1) + "192.0.2.1\n"
	set, err := Parse(strings.NewReader(in), Options{SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Prefixes) != 1 || set.Skipped.Total != n-1 || len(set.Skipped.Lines) != MaxSkipped || set.Skipped.Lines[MaxSkipped-1].Line != MaxSkipped {
		t.Errorf("%d prefixes, %d skipped, %d listed", len(set.Prefixes), set.Skipped.Total, len(set.Skipped.Lines))
	}
}

// TestSkipInvalidUnexplained: past the MaxSkipped lines listed, a bad
// line is counted without its message made: a file of millions of them
// allocated several times for each (most of what set load --skip-invalid
// of 10M bad lines took in time and memory).
func TestSkipInvalidUnexplained(t *testing.T) {
	junk := []string{"not a blocklist", "junk", "10.1.2.3/8", "300.1.2.3", "1.2.3.4/33", "01.2.3.4", "2001:db8::/32", "::ffff:1.2.3.4", "zz:1", strings.Repeat("x", 100)}
	allocs := func(n int) float64 {
		var b strings.Builder
		for i := range MaxSkipped + n {
			fmt.Fprintln(&b, junk[i%len(junk)])
		}
		b.WriteString("192.0.2.1\n")
		in := b.String()
		return testing.AllocsPerRun(2, func() {
			set, err := Parse(strings.NewReader(in), Options{Family: rules.FamilyIPv4, SkipInvalid: true})
			if err != nil || set.Skipped.Total != MaxSkipped+n || len(set.Skipped.Lines) != MaxSkipped {
				t.Fatalf("%v, skipped %d", err, set.Skipped.Total)
			}
		})
	}
	few, many := allocs(1_000), allocs(50_000)
	if many > few+100 {
		t.Errorf("%.0f allocations for 49,000 more bad lines past those listed, want about none (%.0f in all for 1,000)", many-few, few)
	}
}

// TestRoomForLines: the room made for entries is what the input's lines
// need, not a word for every 8 bytes of it, which set load's locked
// memory made resident: as large as a file of bad lines stopped at its
// 11th, three times what a list with comments needed.
func TestRoomForLines(t *testing.T) {
	alloc := func(in string) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		Parse(strings.NewReader(in), Options{})
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	junk := strings.Repeat("this is not a blocklist\n", 1_000_000)
	if got := alloc(junk); got > uint64(len(junk))/8 {
		t.Errorf("%d bytes allocated for %d of bad lines, want at most an eighth", got, len(junk))
	}
	var b strings.Builder
	for i := range 200_000 {
		fmt.Fprintf(&b, "%d.%d.%d.0/24 ; SBL%d, a description of the entry\n", 1+i>>16, i>>8&0xff, i&0xff, 100000+i)
	}
	list := b.String()
	// 32 bytes a prefix, 8 a sort key: about 40 a line of 54
	if got := alloc(list); got > uint64(len(list)) {
		t.Errorf("%d bytes allocated for a list of %d, want at most its size", got, len(list))
	}
}

// TestDuplicatesBounded: repeated IPv6 lines ("::1", 32 bytes an entry
// for 4 bytes of text) cost what the distinct entries do.
func TestDuplicatesBounded(t *testing.T) {
	const n = 1 << 21
	in := strings.Repeat("::1\n2001:db8::/32\n", n/2)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	set, err := Parse(strings.NewReader(in), Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Prefixes) != 2 || set.Duplicates != n-2 {
		t.Fatalf("%d prefixes, %d duplicates", len(set.Prefixes), set.Duplicates)
	}
	// the room for IPv4 entries (a word a line of "1.2.3.4") is the
	// input's size; a slice of every IPv6 line was 3.5 times it
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3*uint64(len(in)) {
		t.Errorf("%d bytes allocated for %d of input, want at most 3 times it", alloc, len(in))
	}
}

// TestFamily: a set of one family names the entry of the other family.
func TestFamily(t *testing.T) {
	// The IPv4-mapped range is IPv6, as in rules.
	in := "192.0.2.0/24\n2001:db8::/32\n198.51.100.1\n::ffff:0:0/96\n"
	for _, tc := range []struct {
		fam  string
		want string
	}{
		{"ipv4", "x: 2 bad lines (2, 4): line 2: 2001:db8::/32 is IPv6, but the set is ipv4; line 4: ::ffff:0:0/96 is IPv6, but the set is ipv4"},
		{"ipv6", "x: 2 bad lines (1, 3): line 1: 192.0.2.0/24 is IPv4, but the set is ipv6; line 3: 198.51.100.1 is IPv4, but the set is ipv6"},
		{"inet", ""},
	} {
		fam, err := rules.ParseSetFamily(tc.fam)
		if err != nil || rules.SetFamilyString(fam) != tc.fam {
			t.Fatalf("ParseSetFamily(%q) = %v, %v", tc.fam, fam, err)
		}
		set, err := Parse(strings.NewReader(in), Options{Name: "x", Family: fam})
		switch {
		case tc.want == "" && (err != nil || len(set.Prefixes) != 4):
			t.Errorf("%s: %v", tc.fam, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("%s: %v, want %s", tc.fam, err, tc.want)
		}
	}
	if _, err := rules.ParseSetFamily("ip6x"); err == nil || err.Error() != `unknown set family "ip6x" (want ipv4, ipv6 or inet)` {
		t.Errorf("ParseSetFamily(ip6x): %v", err)
	}
}

func TestParseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "list.netset")
	long := strings.Repeat("1", MaxLine+1)
	if err := os.WriteFile(path, []byte("192.0.2.0/24\n"+long+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ParseFile(path, Options{})
	if err == nil || err.Error() != fmt.Sprintf("%s:2: line longer than %d bytes", path, MaxLine) {
		t.Errorf("long line: %v", err)
	}
	if _, err := ParseFile(path+".missing", Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestFastPathAgrees: the allocation-free IPv4 path accepts exactly what
// the full parser gives the same prefix for.
func TestFastPathAgrees(t *testing.T) {
	for _, s := range []string{"0.0.0.0", "1.2.3.4", "255.255.255.255", "10.0.0.0/8", "10.0.0.0/32", "0.0.0.0/0",
		"128.0.0.0/1", "1.2.3.4/31", "1.2.3.4/29", "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.4/033",
		"1.2.3.4/", "1..2.3", "1.2.3.4/32x", "1234.1.1.1", "1.2.3.-4", "::1"} {
		a, bits, ok := fastIPv4([]byte(s))
		full, err := netip.ParsePrefix(s)
		if !strings.Contains(s, "/") {
			addr, aerr := netip.ParseAddr(s)
			full, err = netip.PrefixFrom(addr, 32), aerr
		}
		canonical := map[string]bool{"0.0.0.0": true, "1.2.3.4": true, "255.255.255.255": true, "10.0.0.0/8": true,
			"10.0.0.0/32": true, "0.0.0.0/0": true, "128.0.0.0/1": true, "1.2.3.4/31": true}
		if ok != canonical[s] {
			t.Errorf("%q: fast path ok=%v, want %v", s, ok, canonical[s])
		}
		if !ok {
			continue // the full parser decides
		}
		got := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), bits)
		if err != nil || full != got || full.Masked() != full {
			t.Errorf("%q: fast path gave %v, full parser %v, %v", s, got, full, err)
		}
	}
}

// TestParseRefusesDefaultRoute: a line covering every address fails the
// whole list, even with SkipInvalid, unless AllowDefaultRoute.
func TestParseRefusesDefaultRoute(t *testing.T) {
	// 0.0.0.0/00 is no prefix at all: its leading zero is refused.
	for _, all := range []string{"0.0.0.0/0", "::/0"} {
		in := "192.0.2.0/24\n# feed\n" + all + " ; poisoned\n198.51.100.7\n"
		for _, skip := range []bool{false, true} {
			_, err := Parse(strings.NewReader(in), Options{Name: "feed.txt", SkipInvalid: skip})
			if !errors.Is(err, ErrDefaultRoute) || !strings.HasPrefix(err.Error(), "feed.txt:3: ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s, skip-invalid %v: %v, want feed.txt:3: ... %v", all, skip, err, ErrDefaultRoute)
			}
		}
		l, err := Parse(strings.NewReader(in), Options{Name: "feed.txt", AllowDefaultRoute: true})
		if err != nil || len(l.Prefixes) != 3 {
			t.Errorf("%s with AllowDefaultRoute: %v, %v", all, l, err)
		}
	}
}

// TestParseQuotesLittle: a file that is not a blocklist (here lines like
// /etc/shadow's) is reported by line without its text.
func TestParseQuotesLittle(t *testing.T) {
	const secret = "root:$6$Zq8LQ0xR$3Zt8lMkqJ0oYp2uVx9eH1cB7nA4sD6fG5hJ8kL0mN3bV2cX1zQ9wE7rT5yU3iO1pA:19000:0:99999:7:::"
	for _, line := range []string{secret, "10.0.0.0/8 " + secret, secret + " 10.0.0.0/8"} {
		_, err := Parse(strings.NewReader(line+"\n"), Options{Name: "shadow"})
		if err == nil || strings.Contains(err.Error(), "Zq8LQ0xR$3Zt8") {
			t.Errorf("error %q quotes the file", err)
		}
	}
}

// TestParseFileRegularOnly: ParseFile reads regular files only, bounded.
func TestParseFileRegularOnly(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, kind := range map[string]string{fifo: "a named pipe", "/dev/zero": "a character device", dir: "a directory"} {
		_, err := ParseFile(path, Options{})
		if err == nil || !strings.Contains(err.Error(), "not a regular file but "+kind) {
			t.Errorf("%s: %v, want not a regular file but %s", path, err, kind)
		}
	}
	big := filepath.Join(dir, "big.txt")
	if err := os.WriteFile(big, []byte(strings.Repeat("192.0.2.1\n", 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFile(big, Options{MaxSize: 1000}); err == nil || !strings.Contains(err.Error(), "larger than the 1000 bytes limit") {
		t.Errorf("over the limit: %v", err)
	}
	if l, err := ParseFile(big, Options{MaxSize: 2000}); err != nil || len(l.Prefixes) != 1 {
		t.Errorf("at the limit: %v, %v", l, err)
	}
}

// TestParseByteOrderMark: a list saved with a UTF-8 byte order mark
// (Notepad, PowerShell's Out-File) reads as without it: its first entry
// was a bad line ("\ufeff10.0.0.0/24": unexpected character). At the
// start of any line: lists joined by cat carry one at each file's start.
func TestParseByteOrderMark(t *testing.T) {
	for first, want := range map[string]int{"10.0.0.0/24": 2, "2001:db8::/32": 2, "# comment": 1} {
		set, err := Parse(strings.NewReader("\ufeff"+first+"\r\n192.0.2.1\r\n"), Options{Name: "bom.txt"})
		if err != nil || len(set.Prefixes) != want {
			t.Errorf("%q after a byte order mark: %v, want %d prefixes", first, err, want)
		}
	}
	// Lists joined by cat carry one at each file's start.
	if set, err := Parse(strings.NewReader("192.0.2.1\n\ufeff192.0.2.2\n"), Options{Name: "bom.txt"}); err != nil || len(set.Prefixes) != 2 {
		t.Errorf("a byte order mark on line 2: %v, want 2 prefixes", err)
	}
}
