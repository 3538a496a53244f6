package main

import (
	"strings"
	"testing"
)

func TestParsePerfScript(t *testing.T) {
	in := " ffffffff81dff1db veth_xdp_rcv\nffffffffc0051424 bpf_prog_b04351adf2649b3b_xdpfw\n\n 7f00 [unknown]\n 7f01\n"
	got, err := parsePerfScript(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []sample{{0xffffffff81dff1db, "veth_xdp_rcv"}, {0xffffffffc0051424, "bpf_prog_b04351adf2649b3b_xdpfw"},
		{0x7f00, "[unknown]"}, {0x7f01, "[unknown]"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sample %d: got %v, want %v", i, got[i], want[i])
		}
	}
	if _, err := parsePerfScript(strings.NewReader("veth_xdp_rcv 12\n")); err == nil {
		t.Error("a line without an address was accepted")
	}
}

// Samples land on the line whose code starts at or before them, only
// inside the program's functions.
func TestLineCounts(t *testing.T) {
	table := lineTable{
		funcs: [][2]uint64{{0x1000, 0x1100}, {0x2000, 0x2040}},
		lines: []jitLine{{0x1000, "1: entry"}, {0x1010, "2: load"}, {0x1080, "3: count"}, {0x2000, "9: parse"}},
	}
	samples := []sample{
		{0x0fff, "x"}, // before the program
		{0x1000, "x"}, {0x100f, "x"},
		{0x1010, "x"}, {0x1011, "x"}, {0x107f, "x"},
		{0x10ff, "x"},
		{0x1100, "x"}, // past the first function
		{0x2010, "x"},
		{0x2040, "x"}, // past the second
	}
	got := lineCounts(samples, table)
	want := map[string]int{"1: entry": 2, "2: load": 3, "3: count": 1, "9: parse": 1}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: got %d samples, want %d", k, got[k], n)
		}
	}
}

func TestTopShares(t *testing.T) {
	got := topShares(map[string]int{"a": 1, "b": 6, "c": 3, "d": 0}, 2)
	if len(got) != 2 || got[0] != (share{"b", 60}) || got[1] != (share{"c", 30}) {
		t.Errorf("got %v", got)
	}
	if got := topShares(map[string]int{"x": 2, "w": 2}, 5); len(got) != 2 || got[0].key != "w" {
		t.Errorf("ties: got %v", got)
	}
}
