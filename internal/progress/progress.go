// Package progress draws a one-line progress bar on standard error for
// long operations (loading a set of a million prefixes). It draws only on
// a terminal, so scripts, pipes and logs never see control characters,
// and never when the user asked for quiet.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

const width = 30 // characters of the bar itself

// Bar is a progress bar. A disabled bar (not a terminal, or quiet) does
// nothing, so callers never need to check. It is not safe for concurrent
// use.
type Bar struct {
	w     io.Writer // nil when disabled
	label string
	total int64
	done  int64
	shown int // percentage last drawn, -1 before the first draw
}

// New returns a bar for total units of work (bytes, entries) drawn on f,
// normally os.Stderr, labelled with label. It is disabled when quiet is
// set or f is not a terminal.
func New(f *os.File, label string, total int64, quiet bool) *Bar {
	if quiet || !IsTerminal(f) {
		return &Bar{}
	}
	return newBar(f, label, total)
}

func newBar(w io.Writer, label string, total int64) *Bar {
	return &Bar{w: w, label: label, total: max(total, 1), shown: -1}
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Add records n more units done. The bar is redrawn only when the whole
// percentage changes: at most 101 times, however many calls.
func (b *Bar) Add(n int64) {
	if b.w == nil {
		return
	}
	b.done = min(b.done+n, b.total)
	if pct := int(b.done * 100 / b.total); pct != b.shown {
		b.shown = pct
		filled := pct * width / 100
		fmt.Fprintf(b.w, "\r%s [%s%s] %3d%%", b.label, strings.Repeat("#", filled), strings.Repeat(".", width-filled), pct)
	}
}

// Done clears the bar's line, so what is printed next starts clean.
func (b *Bar) Done() {
	if b.w == nil || b.shown < 0 {
		return
	}
	fmt.Fprint(b.w, "\r\x1b[K")
}

// Reader returns r counting every byte read as done: a bar over a file's
// size then follows a parser reading it.
func (b *Bar) Reader(r io.Reader) io.Reader {
	if b.w == nil {
		return r
	}
	return &countingReader{r: r, bar: b}
}

type countingReader struct {
	r   io.Reader
	bar *Bar
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.bar.Add(int64(n))
	return n, err
}
