package manpage

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestRender(t *testing.T) {
	app := &cli.App{
		Name:        "tool",
		Usage:       "does a thing",
		Description: "First paragraph\nfilled.\n\nSecond one, then an example:\n  tool go --fast\n\n  tool go -q\n.dot at the start\nback\\slash",
		Flags:       []cli.Flag{&cli.StringFlag{Name: "dir", Value: "/x", EnvVars: []string{"TOOL_DIR"}, Usage: "state `DIR`"}},
		Commands: []*cli.Command{
			{
				Name: "go", Usage: "go somewhere", ArgsUsage: "WHERE...",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "fast", Aliases: []string{"f"}, Usage: "hurry"},
					&cli.StringSliceFlag{Name: "via", Usage: "through `HOP`"},
					&cli.BoolFlag{Name: "secret", Hidden: true},
				},
				Subcommands: []*cli.Command{{Name: "back", Usage: "return"}},
			},
			{Name: "hidden", Hidden: true},
		},
	}
	page := Render(app, Page{Section: "8", Manual: "Manual", Extra: []Section{{Title: "Exit status", Text: "0 or 1."}}})
	for _, want := range []string{
		".TH TOOL 8 \"\" \"tool\" \"Manual\"\n",
		"tool \\- does a thing\n",
		"First paragraph\nfilled.\n.PP\nSecond one, then an example:\n",
		// the example kept line for line, its blank line too
		".RS 4\n.nf\ntool go \\-\\-fast\n.sp\ntool go \\-q\n.fi\n.RE\n",
		// a line that would be a request, and a backslash
		"\\&.dot at the start\nback\\eslash\n",
		".TP\n\\fB\\-\\-dir\\fR \\fIDIR\\fR\nstate DIR (default: \"/x\") [$TOOL_DIR]\n",
		".SS \"tool go\"\ngo somewhere\n",
		"tool go command [command options] WHERE...\n",
		".TP\n\\fB\\-\\-fast\\fR, \\fB\\-f\\fR\nhurry (default: false)\n",
		".TP\n\\fB\\-\\-via\\fR \\fIHOP\\fR ...\nthrough HOP\n",
		".SS \"tool go back\"\nreturn\n",
		".SH EXIT STATUS\n0 or 1.\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
	for _, unwanted := range []string{"secret", "hidden", "\"tool help\""} {
		if strings.Contains(page, unwanted) {
			t.Errorf("the page shows %q, hidden from --help", unwanted)
		}
	}
}
