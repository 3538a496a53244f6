package main

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/xdpfw/xdpfw/pkg/replay"
)

// tableBlock is how many of a replay's frames wait before they are
// printed: the table goes out a block at a time as Run decides the
// frames, so a capture of millions costs no more memory than one of a
// few thousand (every row held until the end took ten times the
// capture's size).
const tableBlock = 4096

// frameTable prints a replay's frames, a block of rows at a time. A
// capture of one block prints as one aligned table. Later blocks keep
// the columns as wide as the blocks before (a column widens only where a
// wider cell comes), and the CT column is decided with the first block:
// shown when a row of it has a state, or, more frames coming, when the
// ruleset can look one up at all (replay.MayLookUpCT), so no later state
// goes unshown.
type frameTable struct {
	out     io.Writer
	mayCT   bool
	notRun  bool // --summary's table of the frames not run
	rows    []replay.FrameResult
	started bool  // the header and a first block are out
	ct      bool  // the CT column, once started
	widths  []int // of the columns every row aligns, the widest so far
}

func newFrameTable(out io.Writer, mayCT bool) *frameTable {
	return &frameTable{out: out, mayCT: mayCT}
}

// newNotRunTable is --summary's table of the frames that did not run
// (skipped, truncated), printed as they come like the frames' table: a
// capture tcpdump -s cut is all such frames, and held until the end they
// took 1 KiB each.
func newNotRunTable(out io.Writer) *frameTable {
	return &frameTable{out: out, notRun: true}
}

// notRun says whether f is a frame the replay did not run.
func notRun(f replay.FrameResult) bool { return f.Truncated || f.Skipped != "" }

// add is replay.Options.Each: it holds f, printing the block before it
// first when that one is full.
func (ft *frameTable) add(f replay.FrameResult) error {
	if len(ft.rows) == tableBlock {
		if err := ft.flush(true); err != nil {
			return err
		}
	}
	ft.rows = append(ft.rows, f)
	return nil
}

// finish prints the frames left and the blank line after the table.
func (ft *frameTable) finish() error {
	if err := ft.flush(false); err != nil {
		return err
	}
	_, err := fmt.Fprintln(ft.out)
	return err
}

// flush prints the rows held; more says frames follow them.
func (ft *frameTable) flush(more bool) error {
	if ft.started && len(ft.rows) == 0 {
		return nil
	}
	var lines [][]string
	switch {
	case ft.started:
	case ft.notRun:
		lines = append(lines, []string{"FILE", "FRAME", "LEN", "NOT RUN"})
	default:
		ft.ct = slices.ContainsFunc(ft.rows, func(f replay.FrameResult) bool { return f.CT != "" }) || (more && ft.mayCT)
		lines = append(lines, strings.Split("FILE\tFRAME\tLEN\tVERDICT\tREASON\tRULE"+ctCell(ft.ct, "CT"), "\t"))
	}
	for _, f := range ft.rows {
		if ft.notRun {
			lines = append(lines, notRunCells(f))
		} else {
			lines = append(lines, frameCells(f, ft.ct))
		}
	}
	aligned := 5 // FILE to REASON: every row has a cell after them
	switch {
	case ft.notRun:
		aligned = 3 // FILE to LEN
	case ft.ct:
		aligned = 6 // and RULE
	}
	out := ft.out
	if ft.started {
		// A first line as wide as the blocks before, dropped once
		// aligned, keeps this block's columns at least as wide.
		out = &afterFirstLine{w: out}
		phantom := make([]string, aligned+1)
		for i, w := range ft.widths {
			phantom[i] = strings.Repeat(" ", w)
		}
		lines = append([][]string{phantom}, lines...)
	}
	ft.widths = slices.Grow(ft.widths, aligned)[:aligned]
	buf := &bytes.Buffer{}
	tw := tabwriter.NewWriter(buf, 0, 4, 2, ' ', 0)
	for _, cells := range lines {
		for i := range aligned {
			ft.widths[i] = max(ft.widths[i], utf8.RuneCountInString(cells[i]))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
	ft.started = true
	ft.rows = ft.rows[:0]
	_, err := out.Write(buf.Bytes())
	return err
}

// frameCells is one frame's row of the table, ct saying whether it has
// the CT column.
func frameCells(f replay.FrameResult, ct bool) []string {
	rule := "-"
	if f.RuleID != 0 {
		rule = fmt.Sprint(f.RuleID)
	}
	row := []string{f.File, fmt.Sprint(f.Index), fmt.Sprint(f.Length)}
	switch {
	case f.Out:
		row = append(row, "out", "learned by the egress program", "-")
	case f.Truncated:
		row = append(row, "truncated", fmt.Sprintf("captured %d of %d bytes (snap length): not run", f.Length, f.WireLength), "-")
	case f.Skipped != "":
		row = append(row, "skipped", f.Skipped, "-")
	default:
		row = append(row, f.Verdict, f.Reason, rule)
	}
	if ct {
		st := f.CT
		if st == "" || f.Out || f.Truncated || f.Skipped != "" {
			st = "-"
		}
		row = append(row, st)
	}
	if f.Mismatch != "" && !f.Out && !f.Truncated && f.Skipped == "" {
		row = append(row, "MISMATCH: "+f.Mismatch)
	}
	return row
}

// notRunCells is the row of --summary's table for f, a frame not run.
func notRunCells(f replay.FrameResult) []string {
	why := "skipped: " + f.Skipped
	if f.Truncated {
		why = fmt.Sprintf("truncated: captured %d of %d bytes (snap length)", f.Length, f.WireLength)
	}
	return []string{f.File, fmt.Sprint(f.Index), fmt.Sprint(f.Length), why}
}

// afterFirstLine passes on what is written to it after its first line.
type afterFirstLine struct {
	w    io.Writer
	past bool
}

func (a *afterFirstLine) Write(p []byte) (int, error) {
	n := len(p)
	if !a.past {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return n, nil
		}
		a.past, p = true, p[i+1:]
	}
	_, err := a.w.Write(p)
	return n, err
}
