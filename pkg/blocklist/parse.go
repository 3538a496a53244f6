// Package blocklist reads blocklist files: lists of IPv4 and IPv6 prefixes
// such as Spamhaus DROP or FireHOL .netset files, the elements of address
// sets for `xdpfw set load` and ruleset files.
// It is pure Go: no root, no BPF.
//
// The format is one prefix ("192.0.2.0/24") or address ("192.0.2.7",
// which becomes a /32; an IPv6 address a /128) per line. Everything from
// a '#' or ';' to the end of the line is a comment (Spamhaus writes
// "1.2.3.0/24 ; SBL123"); blank lines and surrounding whitespace are
// ignored. IPv4 and IPv6 may be mixed unless a family is asked for.
//
// A prefix with host bits set ("10.1.2.3/8") is an error, as it is in
// rules: nftables masks it silently to 10.0.0.0/8, but a blocklist entry
// like that is far more likely a host address with a bad length than a
// wish to block the whole /8, and masking would block 16 million
// addresses nobody listed. With SkipInvalid such lines are skipped and
// reported with the rest.
//
// An IPv4 address or prefix written IPv4-mapped (::ffff:192.0.2.1) is an
// error too, as in set add: it is IPv6, and would match only crafted
// IPv6 frames, never the IPv4 traffic of the address listed.
//
// A line covering every address of a family (0.0.0.0/0, ::/0) is refused
// unless Options.AllowDefaultRoute, even with SkipInvalid: in a list of
// addresses to block it is almost always a mistake or a poisoned feed, and
// it would block (or, in a pass rule, open to) the whole Internet.
//
// Messages quote a bad entry only when it is short (at most maxQuote
// bytes): the input may be a file that is not a blocklist at all, such as
// /etc/shadow, whose lines must not end up in a terminal or a log.
package blocklist

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/xdpfw/xdpfw/internal/input"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Options control Parse.
type Options struct {
	// Name is what messages call the input, e.g. the file name.
	Name string
	// Family rejects entries of the other family (rules.FamilyAny, the
	// default, takes both).
	Family rules.Family
	// SkipInvalid makes bad lines not an error: Parse returns the good
	// entries and lists the bad lines in List.Skipped.
	SkipInvalid bool
	// AllowDefaultRoute takes 0.0.0.0/0 and ::/0; without it a line
	// covering every address fails the whole list, even with SkipInvalid.
	AllowDefaultRoute bool
	// MaxSize bounds what ParseFile reads, in bytes: 0 is
	// input.MaxBlocklist, a negative size no limit.
	MaxSize int64
}

// ErrDefaultRoute is a blocklist line covering every address.
// It is refused by set load even with --skip-invalid (its help says so):
// the message names only what takes it, true of apply and replay too.
var ErrDefaultRoute = errors.New("covers every address: a blocklist may hold it only with --allow-default-route")

// List is a parsed blocklist.
type List struct {
	// Prefixes holds every entry once: IPv4 before IPv6, each sorted by
	// address, then by prefix length.
	Prefixes []netip.Prefix
	// Duplicates counts entries dropped because an equal one came before.
	Duplicates int
	// Skipped is what SkipInvalid skipped.
	Skipped Skipped
}

// Skipped is the bad lines SkipInvalid skipped: the first MaxSkipped of
// them, in file order (a file of nothing but bad lines would otherwise
// keep an error for each, gigabytes of them), and how many there were.
type Skipped struct {
	Lines []LineError
	Total int
}

// MaxSkipped is how many skipped lines a Skipped spells out.
const MaxSkipped = 1000

// LineError is a bad entry.
type LineError struct {
	Line int
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// MaxReported is how many bad lines an Error spells out.
const MaxReported = 10

// Error is returned when the input has bad lines (and SkipInvalid is off):
// the first MaxReported of them, and how many there were. Parse stops at
// the next bad line (Stopped): nothing past it would be reported, and a
// file that is not a blocklist at all (millions of bad lines) would
// otherwise be read to its end, every line's message made for nothing.
type Error struct {
	Name  string
	Lines []LineError
	Total int // bad lines read: len(Lines), or more if Stopped is 0
	// Stopped is the line of the bad one after Lines, where reading
	// stopped; 0 when the input was read to its end.
	Stopped int
}

// Error names every bad line's number before any message: the CLI cuts
// an error to one line of 300 bytes, which ten messages quoting their
// lines overrun by the fifth, so the numbers of the others, and where
// reading stopped, were cut off with them.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Total == 1 && e.Stopped == 0 {
		fmt.Fprintf(&b, "%s:%d: %v", e.Name, e.Lines[0].Line, e.Lines[0].Err)
		return b.String()
	}
	nums := make([]string, len(e.Lines))
	for i, l := range e.Lines {
		nums[i] = strconv.Itoa(l.Line)
	}
	if e.Stopped > 0 {
		fmt.Fprintf(&b, "%s: more than %d bad lines (%s; reading stopped at line %d, the %dth bad one): ",
			e.Name, len(e.Lines), strings.Join(nums, ", "), e.Stopped, len(e.Lines)+1)
	} else {
		fmt.Fprintf(&b, "%s: %d bad lines (%s", e.Name, e.Total, strings.Join(nums, ", "))
		if more := e.Total - len(e.Lines); more > 0 {
			fmt.Fprintf(&b, " and %d more", more)
		}
		b.WriteString("): ")
	}
	for i, l := range e.Lines {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(l.Error())
	}
	return b.String()
}

// MaxLine is the longest line Parse reads (comments included); a longer
// one stops it: the input is not a blocklist.
const MaxLine = 64 * 1024

// maxEntry is the longest prefix text (an IPv6 address with an
// embedded IPv4 one and /128); a longer entry is reported by its length,
// never quoted.
const maxEntry = len("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128")

// maxQuote is the most of a bad line's text a message quotes.
const maxQuote = 24

// ParseFile parses the blocklist in the file at path (named by path in
// errors). Only a regular file of at most opt.MaxSize bytes is read.
func ParseFile(path string, opt Options) (*List, error) {
	max := opt.MaxSize
	if max == 0 {
		max = input.MaxBlocklist
	}
	data, err := input.ReadFile(path, max)
	if err != nil {
		return nil, err
	}
	if opt.Name == "" {
		opt.Name = path
	}
	return Parse(bytes.NewReader(data), opt)
}

// Parse reads a blocklist from r. Errors name opt.Name and the line.
func Parse(r io.Reader, opt Options) (*List, error) {
	if opt.Name == "" {
		opt.Name = "<input>"
	}
	var (
		v4   []uint64 // address<<8 | length: sorts and compares as integers
		v6   []netip.Prefix
		bad  []LineError
		nbad int
		// An IPv6 entry takes 32 bytes however short its line ("::1"):
		// duplicates are dropped whenever v6 doubles, so they cost no
		// more than the distinct entries do.
		compactAt = 1 << 16
		dups6     int
	)
	// Room for as many IPv4 entries as the input has lines, when it can
	// be read twice: a million-line file otherwise grows v4 twenty times,
	// each copy into fresh memory paid in page faults. Counted, not
	// guessed from the size as if every line were "1.2.3.4": set load
	// locks its memory (mlockall), so room never written is resident all
	// the same, 159 MB of it for a 159 MB file of bad lines, three times
	// the need for Spamhaus' "1.10.16.0/20 ; SBL256894" lines.
	// Only the first 64Ki at once: a file of bad lines stops at its 11th.
	room := countLines(r)
	v4 = make([]uint64, 0, min(room, 1<<16))
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, MaxLine), MaxLine)
	line := 0
	for sc.Scan() {
		line++
		explain := len(bad) < MaxReported || opt.SkipInvalid && len(bad) < MaxSkipped
		// A byte order mark, as Notepad and PowerShell's Out-File write
		// UTF-8: the first entry was refused for it. On any line: lists
		// joined by cat carry one at each file's start, and U+FEFF is
		// never part of an address.
		b := bytes.TrimPrefix(sc.Bytes(), []byte("\ufeff"))
		p4, p6, err := parseLine(b, opt.Family, explain)
		if err == nil && !opt.AllowDefaultRoute && (p4 != 0 && p4&0xff == 0 || p6.IsValid() && p6.Bits() == 0) {
			all := "0.0.0.0/0"
			if p6.IsValid() {
				all = "::/0"
			}
			return nil, fmt.Errorf("%s:%d: %s %w", opt.Name, line, all, ErrDefaultRoute)
		}
		switch {
		case err != nil && !opt.SkipInvalid && nbad == MaxReported:
			return nil, &Error{Name: opt.Name, Lines: bad, Total: nbad, Stopped: line}
		case err != nil:
			nbad++
			if len(bad) < MaxReported || opt.SkipInvalid && len(bad) < MaxSkipped {
				bad = append(bad, LineError{Line: line, Err: err})
			}
		case p4 != 0:
			if len(v4) == cap(v4) && room > len(v4) {
				v4 = slices.Grow(v4, room-len(v4))
			}
			v4 = append(v4, p4)
		case p6.IsValid():
			v6 = append(v6, p6)
			if len(v6) == compactAt {
				v6 = compact6(v6, &dups6)
				compactAt = max(compactAt, 2*len(v6))
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line longer than %d bytes", MaxLine)
		}
		return nil, fmt.Errorf("%s:%d: %w", opt.Name, line+1, err)
	}
	if nbad > 0 && !opt.SkipInvalid {
		return nil, &Error{Name: opt.Name, Lines: bad, Total: nbad}
	}

	list := &List{Skipped: Skipped{Lines: bad, Total: nbad}, Prefixes: make([]netip.Prefix, 0, len(v4)+len(v6))}
	slices.Sort(v4)
	for i, k := range v4 {
		if i > 0 && k == v4[i-1] {
			list.Duplicates++
			continue
		}
		a := uint32(k >> 8)
		addr := netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
		list.Prefixes = append(list.Prefixes, netip.PrefixFrom(addr, int(k&0xff)))
	}
	list.Prefixes = append(list.Prefixes, compact6(v6, &dups6)...)
	list.Duplicates += dups6
	return list, nil
}

// countLines is how many lines (an upper bound of the entries) r has
// from where it is, when it can be read at any offset without moving it
// (a bytes.Reader, strings.Reader): else 0.
func countLines(r io.Reader) int {
	ra, ok := r.(interface {
		io.ReaderAt
		Len() int
		Size() int64
	})
	if !ok {
		return 0
	}
	var buf [32 << 10]byte
	n := 1 // a last line without its newline
	for off := ra.Size() - int64(ra.Len()); ; {
		k, err := ra.ReadAt(buf[:], off)
		n += bytes.Count(buf[:k], []byte{'\n'})
		off += int64(k)
		if err != nil || k == 0 {
			return n
		}
	}
}

// compact6 sorts v6 by address, then length, and drops repeats, counting
// them in dups.
func compact6(v6 []netip.Prefix, dups *int) []netip.Prefix {
	slices.SortFunc(v6, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	n := len(v6)
	v6 = slices.Compact(v6)
	*dups += n - len(v6)
	return v6
}

// errUnexplained is a bad line past those a report lists: Parse only
// counts it, so making its message (several allocations a line, most of
// the time --skip-invalid took on a file of millions of bad lines) would
// be waste.
var errUnexplained = errors.New("bad line")

// parseLine returns the line's entry: IPv4 as a v4Key (never 0), IPv6 as
// a prefix, neither for a blank or comment line. Without explain, a bad
// line's error may be errUnexplained, found without allocating.
func parseLine(b []byte, fam rules.Family, explain bool) (uint64, netip.Prefix, error) {
	if i := bytes.IndexAny(b, "#;"); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0, netip.Prefix{}, nil
	}
	if len(b) > maxEntry {
		if !explain {
			return 0, netip.Prefix{}, errUnexplained
		}
		return 0, netip.Prefix{}, fmt.Errorf("not an address or prefix (%d bytes)", len(b))
	}
	if i := bytes.IndexAny(b, " \t"); i >= 0 {
		if !explain {
			return 0, netip.Prefix{}, errUnexplained
		}
		return 0, netip.Prefix{}, fmt.Errorf("unexpected %s after %s (want one prefix or address per line)", quote(bytes.TrimSpace(b[i:])), cut(b[:i]))
	}
	if a, bits, ok := fastIPv4(b); ok {
		if fam == rules.FamilyIPv6 {
			if !explain {
				return 0, netip.Prefix{}, errUnexplained
			}
			return 0, netip.Prefix{}, fmt.Errorf("%s is IPv4, but the set is ipv6", b)
		}
		return v4Key(a, bits), netip.Prefix{}, nil
	}
	if !explain && !maybeIPv6(b, fam) {
		return 0, netip.Prefix{}, errUnexplained
	}
	// Everything else (IPv6, and IPv4 in any form the fast path does not
	// take, including every error) gets the rules parser and its messages.
	p, err := rules.ParsePrefix(string(b))
	if err != nil {
		if len(b) > maxQuote {
			return 0, netip.Prefix{}, fmt.Errorf("not an address or prefix (%d bytes)", len(b))
		}
		return 0, netip.Prefix{}, err
	}
	// An IPv4 address written IPv4-mapped is a bad line, as set add
	// refuses it: taken as IPv6, the entry would block no IPv4 frame
	// from the address the feed meant, silently.
	if err := rules.MappedElement(p); err != nil {
		return 0, netip.Prefix{}, err
	}
	switch {
	case p.Addr().Is4() && fam == rules.FamilyIPv6:
		return 0, netip.Prefix{}, fmt.Errorf("%s is IPv4, but the set is ipv6", b)
	case p.Addr().Is6() && fam == rules.FamilyIPv4:
		return 0, netip.Prefix{}, fmt.Errorf("%s is IPv6, but the set is ipv4", b)
	case p.Addr().Is4():
		a := p.Addr().As4()
		return v4Key(uint32(a[0])<<24|uint32(a[1])<<16|uint32(a[2])<<8|uint32(a[3]), p.Bits()), netip.Prefix{}, nil
	}
	return 0, p, nil
}

// maybeIPv6 is false of a line the rules parser refuses, when fastIPv4
// did not take it: without a ':' the parser takes only what fastIPv4
// does (netip's IPv4 is a dotted quad of decimals without leading zeros,
// and so are rules' lengths); with one, the line is IPv6, and only hex
// digits, '.' (an embedded IPv4 address), ':' and '/' make one.
func maybeIPv6(b []byte, fam rules.Family) bool {
	if fam == rules.FamilyIPv4 || bytes.IndexByte(b, ':') < 0 {
		return false
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == '.' || c == ':' || c == '/') {
			return false
		}
	}
	return true
}

// quote quotes b for a message, cut to maxQuote bytes.
func quote(b []byte) string {
	if len(b) > maxQuote {
		return fmt.Sprintf("%q…", b[:maxQuote])
	}
	return fmt.Sprintf("%q", b)
}

// cut is b for a message, cut to maxQuote bytes.
func cut(b []byte) string {
	if len(b) > maxQuote {
		return string(b[:maxQuote]) + "…"
	}
	return string(b)
}

// v4Key packs an IPv4 prefix as address<<8 | length, plus 1<<40 so that
// no key is 0 (0.0.0.0/0 would be), which parseLine uses for "none".
func v4Key(addr uint32, bits int) uint64 {
	return 1<<40 | uint64(addr)<<8 | uint64(bits)
}

// fastIPv4 parses the common case without allocating: a dotted quad with
// no leading zeros, optionally /0../32 without leading zeros, no host bits
// set. Anything else reports !ok and goes to the full parser, which
// accepts it or says what is wrong.
func fastIPv4(b []byte) (addr uint32, bits int, ok bool) {
	i := 0
	for part := 0; part < 4; part++ {
		if part > 0 {
			if i >= len(b) || b[i] != '.' {
				return 0, 0, false
			}
			i++
		}
		n, next, ok := decimal(b, i, 255)
		if !ok {
			return 0, 0, false
		}
		addr, i = addr<<8|uint32(n), next
	}
	bits = 32
	if i < len(b) {
		if b[i] != '/' {
			return 0, 0, false
		}
		n, next, ok := decimal(b, i+1, 32)
		if !ok || next != len(b) {
			return 0, 0, false
		}
		bits = n
	}
	if bits < 32 && addr&(1<<(32-bits)-1) != 0 {
		return 0, 0, false // host bits set: the full parser explains
	}
	return addr, bits, true
}

// decimal reads 1-3 digits at b[i:], without a leading zero, up to max.
func decimal(b []byte, i, max int) (n, next int, ok bool) {
	start := i
	for i < len(b) && i-start < 3 && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int(b[i]-'0')
		i++
	}
	if i == start || (b[start] == '0' && i-start > 1) || n > max {
		return 0, 0, false
	}
	return n, i, true
}
