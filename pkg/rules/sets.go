package rules

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// Set is a named set of address prefixes that rules reference as
// "--src @NAME" or "--dst @NAME". An address is in the set when some
// prefix of the set contains it; prefixes may overlap.
type Set struct {
	Name   string
	Family Family // FamilyAny: IPv4 and IPv6 ("inet")
	// Prefixes are masked and unique; SortPrefixes gives the canonical
	// order (IPv4 first, by address, then by length).
	Prefixes []netip.Prefix

	index     setIndex
	indexOnce sync.Once
}

// Sets are a ruleset's sets by name.
type Sets map[string]*Set

// MaxSetRefs is how many distinct sets a ruleset's rules may reference as
// source, and as many again as destination: the datapath looks each one
// up for every packet and turns the answers into one 8-bit key.
const MaxSetRefs = layout.MaxSetRefs

// MaxSetName is the longest set name: the room in the set_defs key.
const MaxSetName = layout.SetNameBytes

var setNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// ValidSetName refuses names that would not read back from a rule
// ("@name") or that are too long for the pinned set table.
func ValidSetName(name string) error {
	if len(name) == 0 || len(name) > MaxSetName || !setNameRE.MatchString(name) {
		return fmt.Errorf("invalid set name %q (want 1-%d letters, digits, '_', '.' or '-', starting with a letter or '_')", name, MaxSetName)
	}
	return nil
}

// ParseSetFamily reads a set's family: ipv4, ipv6 or inet (both).
func ParseSetFamily(s string) (Family, error) {
	if strings.ToLower(s) == "inet" {
		return FamilyAny, nil
	}
	f, err := ParseFamily(s)
	if err != nil {
		return 0, fmt.Errorf("unknown set family %q (want ipv4, ipv6 or inet)", s)
	}
	return f, nil
}

// SetFamilyString names a set family as ParseSetFamily reads it.
func SetFamilyString(f Family) string {
	if f == FamilyAny {
		return "inet"
	}
	return f.String()
}

// Accepts reports whether the set's family admits p, with the error to
// show when it does not.
func (s *Set) Accepts(p netip.Prefix) error {
	if s.Family == FamilyIPv4 && !p.Addr().Is4() {
		return fmt.Errorf("%s is IPv6, but set %s is ipv4", p, s.Name)
	}
	if s.Family == FamilyIPv6 && p.Addr().Is4() {
		return fmt.Errorf("%s is IPv4, but set %s is ipv6", p, s.Name)
	}
	return nil
}

// Validate checks the name, the family and every prefix.
func (s *Set) Validate() error {
	if err := ValidSetName(s.Name); err != nil {
		return err
	}
	if s.Family != FamilyAny && s.Family != FamilyIPv4 && s.Family != FamilyIPv6 {
		return fmt.Errorf("set %s: invalid family %d", s.Name, s.Family)
	}
	what := "set " + s.Name + " element" // once: per element, 3.5M made 54 MB
	for _, p := range s.Prefixes {
		if err := validPrefix(what, p); err != nil {
			return err
		}
		if err := s.Accepts(p); err != nil {
			return err
		}
	}
	return nil
}

// SortPrefixes puts prefixes in canonical order and drops duplicates.
func SortPrefixes(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(ps)
}

// Contains reports whether some prefix of the set contains a. The first
// call builds an index; the set must not change after it.
func (s *Set) Contains(a netip.Addr) bool {
	s.indexOnce.Do(func() { s.index = newSetIndex(s.Prefixes) })
	return s.index.contains(a)
}

// setIndex answers membership with one map probe per prefix length in
// use: the model's job is to be obviously right, not to be a trie.
type setIndex struct {
	prefixes map[netip.Prefix]struct{}
	lens4    []int
	lens6    []int
}

func newSetIndex(ps []netip.Prefix) setIndex {
	ix := setIndex{prefixes: make(map[netip.Prefix]struct{}, len(ps))}
	var seen4, seen6 [129]bool
	for _, p := range ps {
		ix.prefixes[p] = struct{}{}
		if p.Addr().Is4() {
			seen4[p.Bits()] = true
		} else {
			seen6[p.Bits()] = true
		}
	}
	for l := range seen4 {
		if seen4[l] {
			ix.lens4 = append(ix.lens4, l)
		}
		if seen6[l] {
			ix.lens6 = append(ix.lens6, l)
		}
	}
	return ix
}

func (ix *setIndex) contains(a netip.Addr) bool {
	lens := ix.lens6
	if a.Is4() {
		lens = ix.lens4
	}
	for _, l := range lens {
		p, err := a.Prefix(l)
		if err != nil {
			continue
		}
		if _, ok := ix.prefixes[p]; ok {
			return true
		}
	}
	return false
}

// setRef is the text form of a set reference in an address condition.
func setRef(name string) string { return "@" + name }

// parseAddrCond reads an address condition: a prefix, or @NAME.
func parseAddrCond(s string) (netip.Prefix, string, error) {
	if name, ok := strings.CutPrefix(s, "@"); ok {
		if err := ValidSetName(name); err != nil {
			return netip.Prefix{}, "", err
		}
		return netip.Prefix{}, name, nil
	}
	p, err := ParsePrefix(s)
	return p, "", err
}

// ReferencedSets lists the sets rules reference, as source and as
// destination, each in order of first reference in evaluation order.
func ReferencedSets(sorted []Rule) (src, dst []string) {
	for _, r := range sorted {
		if n := r.Match.SrcSet; n != "" && !slices.Contains(src, n) {
			src = append(src, n)
		}
		if n := r.Match.DstSet; n != "" && !slices.Contains(dst, n) {
			dst = append(dst, n)
		}
	}
	return src, dst
}
