package loader

import (
	"reflect"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// planRule is a rule for the plan tests: its dport names it.
func planRule(id, prio uint32, dport uint16) rules.Rule {
	return rules.Rule{ID: id, Priority: prio, Action: rules.Drop,
		Match: rules.Match{Dport: rules.PortRange{Set: true, Lo: dport, Hi: dport}}}
}

// TestPlanApply: which file rules keep their live id and counter slot.
func TestPlanApply(t *testing.T) {
	// Live: ids 3, 5, 8 at priority 10 (dports 30, 50, 80), id 9 at
	// priority 5 (dport 90); slots 0..3.
	live := []rules.Rule{planRule(3, 10, 30), planRule(5, 10, 50), planRule(8, 10, 80), planRule(9, 5, 90)}
	slots := map[uint32]uint32{3: 0, 5: 1, 8: 2, 9: 3}
	const next = 10
	type want struct {
		ids     []uint32
		slots   []uint32
		fresh   []uint32
		removed int
		sameIDs bool
		nextID  uint32
	}
	cases := []struct {
		name string
		file []rules.Rule // ids are ignored
		want want
	}{
		{"the live rules in evaluation order keep everything",
			[]rules.Rule{planRule(0, 5, 90), planRule(0, 10, 30), planRule(0, 10, 50), planRule(0, 10, 80)},
			want{[]uint32{9, 3, 5, 8}, []uint32{3, 0, 1, 2}, nil, 0, true, next}},
		{"priority groups may come in any order",
			[]rules.Rule{planRule(0, 10, 30), planRule(0, 10, 50), planRule(0, 10, 80), planRule(0, 5, 90)},
			want{[]uint32{3, 5, 8, 9}, []uint32{0, 1, 2, 3}, nil, 0, true, next}},
		{"a rule added at the end gets a new id and an unused slot",
			[]rules.Rule{planRule(0, 10, 30), planRule(0, 10, 50), planRule(0, 10, 80), planRule(0, 5, 90), planRule(0, 10, 99)},
			want{[]uint32{3, 5, 8, 9, 10}, []uint32{0, 1, 2, 3, 4}, []uint32{4}, 0, false, next + 1}},
		{"a rule added first in its priority renumbers the rules after it, counters kept",
			[]rules.Rule{planRule(0, 10, 99), planRule(0, 10, 30), planRule(0, 10, 50), planRule(0, 10, 80), planRule(0, 5, 90)},
			want{[]uint32{10, 11, 12, 13, 9}, []uint32{4, 0, 1, 2, 3}, []uint32{4}, 0, false, next + 4}},
		{"a changed rule is new; the removed one's slot is not reused while others are free",
			[]rules.Rule{planRule(0, 10, 30), planRule(0, 10, 51), planRule(0, 10, 80), planRule(0, 5, 90)},
			want{[]uint32{3, 10, 11, 9}, []uint32{0, 4, 2, 3}, []uint32{4}, 1, false, next + 2}},
		{"moved within its priority: kept counters, new ids where order demands",
			[]rules.Rule{planRule(0, 10, 50), planRule(0, 10, 30), planRule(0, 10, 80)},
			want{[]uint32{5, 10, 11}, []uint32{1, 0, 2}, nil, 1, false, next + 2}},
		{"duplicates pair in order",
			[]rules.Rule{planRule(0, 10, 30), planRule(0, 10, 30)},
			want{[]uint32{3, 10}, []uint32{0, 4}, []uint32{4}, 3, false, next + 1}},
		{"an empty file removes everything",
			nil,
			want{nil, nil, nil, 4, true, next}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planApply(live, slots, tc.file, next)
			if err != nil {
				t.Fatal(err)
			}
			var got want
			for i, r := range p.rules {
				if want := tc.file[i]; r.Priority != want.Priority || !reflect.DeepEqual(r.Match, want.Match) || r.Action != want.Action {
					t.Errorf("rule #%d changed: %v, file has %v", i+1, r, tc.file[i])
				}
				got.ids = append(got.ids, r.ID)
				got.slots = append(got.slots, p.slots[r.ID])
			}
			got.fresh, got.removed, got.sameIDs, got.nextID = p.fresh, p.removed, p.sameIDs, p.nextID
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tc.want)
			}
			// Whatever the plan, the result runs in file order.
			rs := &rules.Ruleset{Policy: rules.Pass, Rules: p.rules}
			if err := rs.Validate(); err != nil {
				t.Fatal(err)
			}
			// Whatever the plan, equal priorities run in file order.
			for i, a := range p.rules {
				for _, b := range p.rules[i+1:] {
					if a.Priority == b.Priority && a.ID >= b.ID {
						t.Errorf("rule %v comes first in the file but runs after %v", a, b)
					}
				}
			}
		})
	}
}
