package main

import (
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

func printJSON(c *cli.Context, v any) error {
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
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

func newTable(c *cli.Context) *tabwriter.Writer {
	return tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
}

// warnUnknownInterfaces says which interfaces the live rules name that do
// not exist here: rules that match nothing are easy to miss.
func warnUnknownInterfaces(c *cli.Context, rs *rules.Ruleset) {
	for _, name := range loader.UnknownInterfaces(rs) {
		fmt.Fprintf(c.App.ErrWriter, "xdpfw: warning: no interface %s here: its rules match nothing until it exists and the ruleset is next changed\n", name)
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
