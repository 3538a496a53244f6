package loader

import (
	"time"
)

// CTRates are the table's counters per second over an interval: how fast
// flows are learned and evicted, and packets placed in each state.
type CTRates struct {
	Interval  float64            `json:"interval_s"`
	Inserts   float64            `json:"inserts"`
	Evictions float64            `json:"evictions"`
	Egress    float64            `json:"egress_packets"`
	States    map[string]float64 `json:"states"`
}

// ConntrackRates reads the counters, waits d, and reads them again: the
// stats at the end, and the rates between.
func (s *State) ConntrackRates(d time.Duration) (CTStats, CTRates, error) {
	before, err := s.ConntrackStats()
	if err != nil {
		return CTStats{}, CTRates{}, err
	}
	start := time.Now()
	time.Sleep(d)
	after, err := s.ConntrackStats()
	if err != nil {
		return CTStats{}, CTRates{}, err
	}
	secs := time.Since(start).Seconds()
	per := func(a, b uint64) float64 {
		if a < b {
			return 0 // a flush between the reads
		}
		return float64(a-b) / secs
	}
	r := CTRates{Interval: secs, Inserts: per(after.Inserts, before.Inserts), Evictions: per(after.Evictions, before.Evictions),
		Egress: per(after.Egress, before.Egress), States: map[string]float64{}}
	for name, n := range after.States {
		r.States[name] = per(n, before.States[name])
	}
	return after, r, nil
}
