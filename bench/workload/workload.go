// Package workload is the traffic and the rulesets every benchmark of
// xdpfw-bench runs: one multi-flow mix, rulesets at each scale point built
// so that part of the mix matches, and the "N source addresses and M
// destination ports denied" ruleset xdp-filter can express.
package workload

import (
	"github.com/xdpfw/xdpfw/internal/fixtures"
)

// Traffic is the mix of frames and the flows they belong to.
type Traffic struct {
	Flows  []fixtures.MixFlow
	Frames [][]byte
}

// NewTraffic draws flows flows and frames frames over them (IPv4 and
// IPv6; TCP, UDP, ICMP). The seed is fixed: every run sees the same mix.
func NewTraffic(flows, frames int) Traffic {
	fl, fr := fixtures.Mix(flows, frames, 0x62656e6368)
	return Traffic{Flows: fl, Frames: fr}
}

// Bytes is the total size of the frames.
func (t Traffic) Bytes() int {
	n := 0
	for _, f := range t.Frames {
		n += len(f)
	}
	return n
}

// SizeRange is the shortest and longest frame.
func (t Traffic) SizeRange() (lo, hi int) {
	lo = 1 << 30
	for _, f := range t.Frames {
		lo, hi = min(lo, len(f)), max(hi, len(f))
	}
	return lo, hi
}
