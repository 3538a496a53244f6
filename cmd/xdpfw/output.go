package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print JSON for scripts"}
}

// count is n of noun, singular for one: "1 rule", "2 rules" (every noun
// counted is plural with an s).
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func printJSON(c *cli.Context, v any) error {
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	// Not for a web page: "a > b" stays as written, not "a \u003e b".
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printReport prints a command's report: v as JSON with --json, else
// what human prints.
func printReport(c *cli.Context, v any, human func()) error {
	if c.Bool("json") {
		return printJSON(c, v)
	}
	human()
	return nil
}

// table is a tabwriter whose output is buffered until Flush: tabwriter
// writes a row cell by cell, and unbuffered each cell was a system call
// (a list of 4095 rules made about 40,000 and took 160 ms).
type table struct {
	*tabwriter.Writer
	out *bufio.Writer
}

func newTable(c *cli.Context) table {
	out := bufio.NewWriter(c.App.Writer)
	return table{Writer: tabwriter.NewWriter(out, 0, 4, 2, ' ', 0), out: out}
}

// Flush writes the table's rows so far.
func (t table) Flush() error {
	if err := t.Writer.Flush(); err != nil {
		return err
	}
	return t.out.Flush()
}

// warnUnknownInterfaces says which interfaces the live rules name that do
// not exist here: rules that match nothing are easy to miss.
func warnUnknownInterfaces(c *cli.Context, rs *rules.Ruleset) {
	for _, name := range loader.UnknownInterfaces(rs) {
		fmt.Fprintf(c.App.ErrWriter, "xdpfw: warning: no interface %s here: its rules match nothing until it exists and xdpfw is attached to it or the ruleset is applied again\n", name)
	}
}

// commentCell is the last cell of a row of rules: the comment after a
// tab when the table has a COMMENT column (show: some rule has a
// comment), else nothing, so tables of rules without comments keep their
// columns and end with no trailing blanks.
func commentCell(show bool, comment string) string {
	if !show {
		return ""
	}
	return "\t" + comment
}
