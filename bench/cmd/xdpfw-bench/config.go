package main

import "github.com/xdpfw/xdpfw/bench/e2e"

// Config is the size of a run: the full run behind results.md, or the quick
// smoke run CI uses to prove every part still works.
type Config struct {
	Name           string
	Flows, Frames  int   // the per-packet mix
	Scales         []int // rule counts for the scale curve
	Repeat, Rounds int   // per-packet measurement
	DenyAddrs      int   // the xdp-filter comparison's ruleset
	DenyPorts      int
	LiveSeconds    float64 // each end-to-end receiver, per round
	LiveRounds     int
	Generator      e2e.Source // how the end-to-end generator sends
	SetSizes       []int      // entries in a referenced set, per packet; loads time those from 10k
	LoadRounds     int        // control plane: rounds of each set load
	XdpFilterAddrs int        // control plane: addresses added with xdp-filter ip
}

var (
	full = Config{
		Name: "full", Flows: 4096, Frames: 16384,
		Scales: []int{1, 16, 64, 256, 1024, 4096}, Repeat: 64, Rounds: 5,
		DenyAddrs: 256, DenyPorts: 64,
		LiveSeconds: 2, LiveRounds: 3,
		SetSizes:       []int{1, 10_000, 100_000, 1_000_000},
		LoadRounds:     3,
		XdpFilterAddrs: 10000,
	}
	quick = Config{
		Name: "quick", Flows: 256, Frames: 1024,
		Scales: []int{1, 64, 4096}, Repeat: 8, Rounds: 2,
		DenyAddrs: 16, DenyPorts: 8,
		LiveSeconds: 0.3, LiveRounds: 1,
		SetSizes:       []int{1, 10_000},
		LoadRounds:     1,
		XdpFilterAddrs: 100,
	}
)
