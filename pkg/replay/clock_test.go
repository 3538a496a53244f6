package replay

import (
	"testing"
	"time"
)

// TestNgTime: pcapng timestamps in decimal and binary resolutions.
func TestNgTime(t *testing.T) {
	for _, c := range []struct {
		ts     uint64
		resol  byte
		sec    int64
		nsec   int64
		reason string
	}{
		{1_500_000, 6, 1, 500_000_000, "µs, the default"},
		{2_000_000_007, 9, 2, 7, "ns"},
		{3_000_000_000_5, 10, 3, 0, "finer than ns: truncated"},
		{5<<20 | 1<<19, 0x80 | 20, 5, 500_000_000, "2^-20 s"},
		{42, 0, 42, 0, "seconds"},
	} {
		if got, want := ngTime(c.ts, c.resol), time.Unix(c.sec, c.nsec); !got.Equal(want) {
			t.Errorf("%s: %v, want %v", c.reason, got, want)
		}
	}
}

// TestCaptureClock: time since the first stamped frame, never back.
func TestCaptureClock(t *testing.T) {
	var c captureClock
	t0 := time.Unix(1000, 0)
	for i, s := range []struct {
		ts   time.Time
		want time.Duration
	}{
		{time.Time{}, 0},
		{t0, 0},
		{t0.Add(2 * time.Second), 2 * time.Second},
		{time.Time{}, 2 * time.Second},
		{t0.Add(time.Second), 2 * time.Second},
		{t0.Add(40 * time.Second), 40 * time.Second},
	} {
		if got := c.at(s.ts); got != s.want {
			t.Errorf("step %d: %v, want %v", i, got, s.want)
		}
	}
}
