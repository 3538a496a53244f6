package loader

import (
	"fmt"
	"math/rand"
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// setUniverse are the entries FuzzSetChanges adds and deletes: hosts and
// prefixes of both families, nested (a /8 over /16s over /24s over
// hosts), few enough that they crowd a new set's first bucket arrays and
// come back after they were deleted (IPv6 tombstones taken back, arrays
// built anew), and beside lengths the buckets cannot take (the trie).
var setUniverse = func() []netip.Prefix {
	var out []netip.Prefix
	for i := range 128 {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 32))
		out = append(out, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}), 128))
	}
	for i := range 64 {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i), 0}), 24))
		out = append(out, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 7: byte(i)}), 64))
	}
	for _, p := range []string{"10.0.0.0/16", "10.1.0.0/16", "10.0.0.0/8", "10.0.0.0/28", "2001:db8::/32", "2001:db8::/48", "2001:db8::/120"} {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}()

// FuzzSetChanges: a set changed by any sequence of additions and
// deletions of setUniverse's entries holds exactly what the changes
// leave, and the program answers for every address of the universe as
// the model does. Each 3 bytes of ops are one entry (the last two) added
// (the first's low bit) or deleted, if present; its top bit ends a
// change, as an entry named again does (up to 32 changes, each a commit;
// past them, an entry named again is passed over). Each input starts
// from a set made anew.
func FuzzSetChanges(f *testing.F) {
	f.Add([]byte{1, 0, 1, 1, 0, 2, 0x81, 0, 3, 0, 0, 1, 0x80, 0, 2})
	seq := func(ops ...[3]byte) []byte {
		var b []byte
		for _, o := range ops {
			b = append(b, o[:]...)
		}
		return b
	}
	// Everything at once; then, a change each, a few IPv6 hosts deleted
	// and added again, taking their tombstones back (too many at once
	// would build the array anew instead).
	var all []byte
	for i := range len(setUniverse) {
		all = append(all, seq([3]byte{1, byte(i >> 8), byte(i)})...)
	}
	all[len(all)-3] |= 0x80
	flap := slices.Clone(all)
	for round := range 6 {
		for i := range 8 {
			op := byte(round % 2)
			if i == 7 {
				op |= 0x80
			}
			flap = append(flap, seq([3]byte{op, 0, byte(2*i + 1)})...)
		}
	}
	f.Add(flap)
	// Everything at once, then half of it deleted.
	for i := 0; i < len(setUniverse); i += 2 {
		all = append(all, seq([3]byte{0, byte(i >> 8), byte(i)})...)
	}
	f.Add(all)

	privtest.Require(f)
	dir := privtest.PinDir(f)
	var (
		s    *State
		inst *Instance
	)
	f.Cleanup(func() {
		if inst != nil {
			inst.Close()
		}
		if s != nil {
			s.unpinAll()
			s.Close()
		}
	})
	ruleID := uint32(0)
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 3*1024 {
			return // each change is a commit: bounded, an input runs in a second or less
		}
		if s == nil {
			var err error
			if s, err = OpenOrCreate(dir); err != nil {
				t.Fatal(err)
			}
			if inst, err = s.NewInstance(true); err != nil {
				t.Fatal(err)
			}
		}
		if ruleID != 0 {
			if err := s.DeleteRules([]uint32{ruleID}); err != nil {
				t.Fatal(err)
			}
			if err := s.DestroySet("fz"); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateSet("fz", rules.FamilyAny); err != nil {
			t.Fatal(err)
		}
		id, err := s.AddRule(rules.Rule{Action: rules.Drop, Match: rules.Match{SrcSet: "fz"}})
		if err != nil {
			t.Fatal(err)
		}
		ruleID = id
		have := map[netip.Prefix]bool{}
		var add, del []netip.Prefix
		pending := map[netip.Prefix]bool{}
		const maxChanges = 32
		changes := 0
		change := func() {
			t.Helper()
			if len(add)+len(del) == 0 {
				return
			}
			changes++
			if _, err := s.ChangeSet("fz", add, del); err != nil {
				t.Fatalf("add %v, delete %v: %v", add, del, err)
			}
			for _, p := range add {
				have[p] = true
			}
			for _, p := range del {
				delete(have, p)
			}
			add, del = nil, nil
			clear(pending)
		}
		for i := 0; i+2 < len(ops); i += 3 {
			p := setUniverse[(int(ops[i+1])<<8|int(ops[i+2]))%len(setUniverse)]
			if pending[p] { // one change names an entry once
				if changes == maxChanges {
					continue
				}
				change()
			}
			switch {
			case ops[i]&1 == 1:
				add, pending[p] = append(add, p), true
			case have[p]:
				del, pending[p] = append(del, p), true
			}
			if ops[i]&0x80 != 0 && changes < maxChanges {
				change()
			}
		}
		change()
		checkElements(t, s, "fz", have)
		live, err := s.RulesetWithSets()
		if err != nil {
			t.Fatal(err)
		}
		frames := setFrames(rand.New(rand.NewSource(int64(len(ops)))), rules.Sets{"u": {Name: "u", Prefixes: setUniverse}})
		checkAgainstModel(t, inst, live, frames)
		if t.Failed() {
			t.Logf("after %s", fmt.Sprint(len(ops)/3, " operations"))
		}
	})
}
