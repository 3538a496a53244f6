package loader

// CTRates are the table's counters per second over an interval: how fast
// flows are learned and evicted, and packets placed in each state.
type CTRates struct {
	Interval  float64            `json:"interval_s"`
	Inserts   float64            `json:"inserts"`
	Evictions float64            `json:"evictions"`
	Egress    float64            `json:"egress_packets"`
	States    map[string]float64 `json:"states"`
}

// CTRatesBetween are the rates between two reads of the counters, secs
// apart. The caller reads them with the state open for each read only
// (ct stats --interval): a state held open across the wait would hold
// the pin directory's lock, and every other xdpfw command (serve's
// reloads, scrapes and shutdown among them) would wait for it.
func CTRatesBetween(before, after CTStats, secs float64) CTRates {
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
	return r
}
