package main

import (
	"fmt"
	"io"
	"strings"
)

// Section is one part of results.md: what was measured, how, the tables,
// and notes (targets met or missed, what could not be measured and why).
type Section struct {
	Title  string
	Method string
	Tables []Table
	Image  string // a plot in the same directory as results.md
	Notes  []string
}

// Table is a markdown table.
type Table struct {
	Caption string
	Header  []string
	Rows    [][]string
}

func (t Table) write(w io.Writer) {
	if t.Caption != "" {
		fmt.Fprintf(w, "%s\n\n", t.Caption)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(t.Header, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(t.Header)))
	for _, r := range t.Rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
	fmt.Fprintln(w)
}

func (s Section) write(w io.Writer) {
	fmt.Fprintf(w, "## %s\n\n", s.Title)
	if s.Method != "" {
		fmt.Fprintf(w, "%s\n\n", s.Method)
	}
	for _, t := range s.Tables {
		t.write(w)
	}
	if s.Image != "" {
		fmt.Fprintf(w, "![%s](%s)\n\n", s.Title, s.Image)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	if len(s.Notes) > 0 {
		fmt.Fprintln(w)
	}
}

// failed is the section for a part of the run that could not be measured:
// the run goes on and results.md says why.
func failed(title string, err error) Section {
	return Section{Title: title, Notes: []string{fmt.Sprintf("**Not measured in this run**: %v", err)}}
}

func ns(v float64) string    { return fmt.Sprintf("%.0f", v) }
func ratio(v float64) string { return fmt.Sprintf("%.2f", v) }

// spread is a result's range as a share of its median.
func spread(min, max, median float64) string {
	if median == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f–%.0f (±%.0f%%)", min, max, 50*(max-min)/median)
}

// target says whether a measured figure meets its target.
func target(name string, got float64, cmp string, want float64) string {
	ok := got <= want
	if cmp == ">=" {
		ok = got >= want
	}
	verdict := "**missed**"
	if ok {
		verdict = "met"
	}
	return fmt.Sprintf("Target %s %s %.2f: measured %.2f, %s.", name, cmp, want, got, verdict)
}
