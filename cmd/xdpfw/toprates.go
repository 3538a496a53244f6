package main

import (
	"time"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

// rate is a counter's change between two reads, and that change per
// second of the time between them.
type rate struct {
	Packets          uint64  `json:"packets"` // the count at the second read
	Bytes            uint64  `json:"bytes"`
	PacketsDelta     uint64  `json:"packets_delta"`
	BytesDelta       uint64  `json:"bytes_delta"`
	PacketsPerSecond float64 `json:"packets_per_second"`
	BytesPerSecond   float64 `json:"bytes_per_second"`
}

// ruleRate is one rule's row of top: a rule as rule list --json gives
// it (loader.RuleRow, its fields in that order, so a script reads both
// alike), its counts the interval's.
type ruleRate struct {
	ID         uint32            `json:"id"`
	Priority   uint32            `json:"priority"`
	Conditions map[string]string `json:"conditions"`
	Action     string            `json:"action"`
	Match      string            `json:"match"`
	Comment    string            `json:"comment"`
	Log        bool              `json:"log"`
	rate
}

// topSample is what top prints for one interval.
type topSample struct {
	Interval float64         `json:"interval_seconds"` // between the two reads
	Policy   string          `json:"policy"`
	Rules    []ruleRate      `json:"rules"` // evaluation order
	Verdicts map[string]rate `json:"verdicts"`
}

// rates compares two snapshots taken elapsed apart. A rule only in the
// later one (added since) counts from zero; a counter that went down
// (the state was removed and made again) counts from zero too.
//
// Rules are matched by ruleKey, not by id: an apply that inserts a rule
// above others gives them new ids and keeps their counts, so by id each
// would show all it ever counted as this interval's.
func rates(before, after loader.Snapshot, elapsed time.Duration) topSample {
	secs := elapsed.Seconds()
	was := map[ruleKey]loader.Counter{}
	for _, r := range before.Rules {
		was[keyOf(r)] = r.Counter
	}
	s := topSample{Interval: secs, Policy: after.Policy.String(), Rules: []ruleRate{}, Verdicts: map[string]rate{}}
	for _, r := range after.Rules {
		s.Rules = append(s.Rules, ruleRate{ID: r.ID, Priority: r.Priority, Conditions: r.Conditions, Action: r.Action, Match: r.Match,
			Comment: r.Comment, Log: r.Log, rate: rateOf(was[keyOf(r)], r.Counter, secs)})
	}
	for _, name := range loader.StatNames {
		s.Verdicts[name] = rateOf(before.Verdicts[name], after.Verdicts[name], secs)
	}
	return s
}

// ruleKey is what stays of a rule across renumbering: its counter slot,
// which holds its counts whatever its id, and what it does, so a new rule
// given a deleted rule's slot (zeroed for it) is not taken for that rule.
// Comment and log are left out: apply keeps the slot and counts of a rule
// whose comment or log alone changed. A rule deleted and added back the
// same takes the same slot (the lowest free) and cannot be told from the
// old one by what a read shows; top --help says so.
type ruleKey struct {
	slot, priority uint32
	match, action  string
}

func keyOf(r loader.RuleRow) ruleKey {
	return ruleKey{slot: r.Slot, priority: r.Priority, match: r.Match, action: r.Action}
}

func rateOf(a, b loader.Counter, secs float64) rate {
	if b.Packets < a.Packets || b.Bytes < a.Bytes {
		a = loader.Counter{}
	}
	r := rate{Packets: b.Packets, Bytes: b.Bytes, PacketsDelta: b.Packets - a.Packets, BytesDelta: b.Bytes - a.Bytes}
	if secs > 0 {
		r.PacketsPerSecond, r.BytesPerSecond = float64(r.PacketsDelta)/secs, float64(r.BytesDelta)/secs
	}
	return r
}
