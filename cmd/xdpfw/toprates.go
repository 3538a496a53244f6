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

// ruleRate is one rule's row of top.
type ruleRate struct {
	ID       uint32 `json:"id"`
	Priority uint32 `json:"priority"`
	Match    string `json:"match"`
	Action   string `json:"action"`
	Comment  string `json:"comment"`
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
func rates(before, after loader.Snapshot, elapsed time.Duration) topSample {
	secs := elapsed.Seconds()
	was := map[uint32]loader.Counter{}
	for _, r := range before.Rules {
		was[r.ID] = r.Counter
	}
	s := topSample{Interval: secs, Policy: after.Policy.String(), Rules: []ruleRate{}, Verdicts: map[string]rate{}}
	for _, r := range after.Rules {
		s.Rules = append(s.Rules, ruleRate{ID: r.ID, Priority: r.Priority, Match: r.Match, Action: r.Action, Comment: r.Comment,
			rate: rateOf(was[r.ID], r.Counter, secs)})
	}
	for _, name := range loader.StatNames {
		s.Verdicts[name] = rateOf(before.Verdicts[name], after.Verdicts[name], secs)
	}
	return s
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
