package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/replay"
)

// TestFrameTableBlocks: a replay's frames print a block at a time. One
// block is one aligned table; later blocks keep the columns the blocks
// before had, widening only for a wider cell; the CT column is shown for
// a table of several blocks when the ruleset can look a flow up, though
// the first block found none.
func TestFrameTableBlocks(t *testing.T) {
	rows := func(file string, from, n int) []replay.FrameResult {
		var out []replay.FrameResult
		for i := range n {
			out = append(out, replay.FrameResult{File: file, Index: from + i, Length: 60, Verdict: "pass", Reason: "default"})
		}
		return out
	}
	print := func(mayCT bool, frames []replay.FrameResult) []string {
		var buf bytes.Buffer
		ft := newFrameTable(&buf, mayCT)
		for _, f := range frames {
			if err := ft.add(f); err != nil {
				t.Fatal(err)
			}
		}
		if err := ft.finish(); err != nil {
			t.Fatal(err)
		}
		return strings.Split(buf.String(), "\n")
	}
	one := print(true, rows("a.pcap", 1, 3))
	if want := "FILE    FRAME  LEN  VERDICT  REASON   RULE"; one[0] != want || one[1] != "a.pcap  1      60   pass     default  -" || len(one) != 6 {
		t.Errorf("one block:\n%s", strings.Join(one, "\n"))
	}
	frames := append(rows("a.pcap", 1, tableBlock), rows("longer-name.pcap", 1, tableBlock)...)
	frames = append(frames, rows("a.pcap", tableBlock+1, 10)...)
	lines := print(false, frames)
	for i, want := range map[int]string{
		0:                "FILE    FRAME  LEN  VERDICT  REASON   RULE",
		1:                "a.pcap  1      60   pass     default  -",
		tableBlock + 1:   "longer-name.pcap  1      60   pass     default  -",
		2*tableBlock + 1: fmt.Sprintf("a.pcap            %d   60   pass     default  -", tableBlock+1),
	} {
		if lines[i] != want {
			t.Errorf("line %d: %q, want %q", i, lines[i], want)
		}
	}
	if len(lines) != 2*tableBlock+10+3 {
		t.Errorf("%d lines, want %d", len(lines), 2*tableBlock+13)
	}
	lines = print(true, rows("a.pcap", 1, tableBlock+1))
	if want := "FILE    FRAME  LEN  VERDICT  REASON   RULE  CT"; lines[0] != want || lines[tableBlock+1] != "a.pcap  4097   60   pass     default  -     -" {
		t.Errorf("several blocks, a ruleset that can look flows up: %q ... %q", lines[0], lines[tableBlock+1])
	}
}
