package loader

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// decodeAll splits the rules among goroutines: every rule lands at its
// own index whatever the split, and a bad definition in any part is
// reported by its rule.
func TestDecodeAll(t *testing.T) {
	const n = 2000
	ids := make([]uint32, n)
	defs := map[uint32][]byte{}
	for i := range ids {
		id := uint32(3*i + 1)
		ids[i] = id
		r := rules.Rule{ID: id, Priority: uint32(n - i), Action: rules.Drop, Match: rules.Match{Dport: ports(uint16(i), uint16(i))}}
		b, err := encodeRule(r, uint32(i+7))
		if err != nil {
			t.Fatal(err)
		}
		defs[id] = b
	}
	live, slots, order := make([]rules.Rule, n), make([]uint32, n), make([]uint64, n)
	if err := decodeAll(ids, defs, live, slots, order); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if live[i].ID != id || slots[i] != uint32(i+7) || live[i].Match.Dport.Lo != uint16(i) ||
			order[i] != uint64(n-i)<<32|uint64(i) {
			t.Fatalf("index %d: rule %+v slot %d order %#x", i, live[i], slots[i], order[i])
		}
	}

	for _, bad := range []int{0, n / 2, n - 1} {
		t.Run(fmt.Sprint(bad), func(t *testing.T) {
			id := ids[bad]
			saved := defs[id]
			defer func() { defs[id] = saved }()
			defs[id] = saved[:5]
			err := decodeAll(ids, defs, live, slots, order)
			if err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("rule %d: stored definition: ", id)) {
				t.Fatalf("truncated definition of rule %d: %v", id, err)
			}
			other := ids[(bad+1)%n]
			defs[id] = defs[other]
			err = decodeAll(ids, defs, live, slots, order)
			if want := fmt.Sprintf("rule %d: stored definition is of rule %d", id, other); err == nil || err.Error() != want {
				t.Fatalf("got %v, want %s", err, want)
			}
		})
	}
}
