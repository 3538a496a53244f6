// Package manpage renders a urfave/cli command tree as a manual page in
// man(7) roff: the same words --help prints, so `man xdpfw` and the
// help never disagree. urfave/cli's own ToMan drops every command's
// description and arguments and is built out of the binary
// (urfave_cli_no_docs); this writes the page once, at build time, to a
// file the package ships.
package manpage

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// Page is what a manual page has beyond the command tree.
type Page struct {
	Section string // "8": system administration
	Manual  string // the centre of the header line
	// Extra sections follow the commands (ENVIRONMENT, FILES, EXIT
	// STATUS, SEE ALSO), their text written as a description is.
	Extra []Section
}

// Section is one titled part of the page.
type Section struct {
	Title string
	Text  string
}

// Render writes app's manual page. The header carries no date, so the
// page changes only when the help does.
func Render(app *cli.App, p Page) string {
	var b strings.Builder
	name := app.Name
	fmt.Fprintf(&b, ".TH %s %s \"\" %q %q\n", strings.ToUpper(name), p.Section, name, p.Manual)
	// Option names and commands are copied from the page into shells:
	// no hyphenation to split them, no justification to stretch them.
	b.WriteString(".nh\n.ad l\n")
	b.WriteString(".SH NAME\n")
	fmt.Fprintf(&b, "%s \\- %s\n", name, escape(app.Usage))
	b.WriteString(".SH SYNOPSIS\n")
	fmt.Fprintf(&b, ".B %s\n[\\fIglobal options\\fR]\n.I command\n[\\fIcommand options\\fR] [\\fIarguments\\fR]\n", name)
	b.WriteString(".SH DESCRIPTION\n")
	text(&b, app.Description)
	if flags := visible(app.Flags); len(flags) > 0 {
		b.WriteString(".SH GLOBAL OPTIONS\n")
		options(&b, flags)
	}
	b.WriteString(".SH COMMANDS\n")
	commands(&b, name, app.Commands)
	for _, s := range p.Extra {
		fmt.Fprintf(&b, ".SH %s\n", strings.ToUpper(s.Title))
		text(&b, s.Text)
	}
	return b.String()
}

// commands writes each visible command under parent, then its
// subcommands, depth first, as --help walks them.
func commands(b *strings.Builder, parent string, cmds []*cli.Command) {
	for _, c := range cmds {
		if c.Hidden || c.Name == "help" {
			continue
		}
		path := parent + " " + c.Name
		fmt.Fprintf(b, ".SS \"%s\"\n", escape(path))
		b.WriteString(escape(c.Usage) + "\n")
		b.WriteString(".PP\n")
		usage := c.UsageText
		if usage == "" {
			usage = path
			if len(c.Subcommands) > 0 {
				usage += " command"
			}
			if len(visible(c.Flags)) > 0 {
				usage += " [command options]"
			}
			if c.ArgsUsage != "" {
				usage += " " + c.ArgsUsage
			}
		}
		b.WriteString(".nf\n.RS 4\n")
		for _, l := range strings.Split(strings.TrimSpace(usage), "\n") {
			b.WriteString(escapeLine(strings.TrimSpace(l)) + "\n")
		}
		b.WriteString(".RE\n.fi\n")
		if c.Description != "" {
			b.WriteString(".PP\n")
			text(b, c.Description)
		}
		if flags := visible(c.Flags); len(flags) > 0 {
			b.WriteString(".PP\nOptions:\n")
			options(b, flags)
		}
		commands(b, path, c.Subcommands)
	}
}

// visible is the flags --help lists, in its order.
func visible(flags []cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, f := range flags {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		if f.Names()[0] == "help" {
			continue
		}
		out = append(out, f)
	}
	return out
}

// options writes one tagged paragraph per flag: its names and value,
// then its usage, default and environment variables, as --help words them.
func options(b *strings.Builder, flags []cli.Flag) {
	for _, f := range flags {
		df, ok := f.(cli.DocGenerationFlag)
		if !ok {
			continue
		}
		placeholder, usage := unquote(df.GetUsage())
		var names []string
		for _, n := range f.Names() {
			dash := "\\-\\-"
			if len(n) == 1 {
				dash = "\\-"
			}
			names = append(names, "\\fB"+dash+escape(n)+"\\fR")
		}
		tag := strings.Join(names, ", ")
		if df.TakesValue() {
			if placeholder == "" {
				placeholder = "value"
			}
			tag += " \\fI" + escape(placeholder) + "\\fR"
		}
		if sf, ok := f.(cli.DocGenerationSliceFlag); ok && sf.IsSliceFlag() {
			tag += " ..."
		}
		b.WriteString(".TP\n" + tag + "\n")
		line := usage
		if def := defaultText(df); def != "" {
			line += " (default: " + def + ")"
		}
		if env := df.GetEnvVars(); len(env) > 0 {
			line += " [$" + strings.Join(env, ", $") + "]"
		}
		b.WriteString(escapeLine(line) + "\n")
	}
}

// unquote is usage less its back quotes and the placeholder they mark,
// as --help reads them: "BPF filesystem `DIR` holding" names the value DIR.
func unquote(usage string) (placeholder, text string) {
	i := strings.IndexByte(usage, '`')
	if i < 0 {
		return "", usage
	}
	j := strings.IndexByte(usage[i+1:], '`')
	if j < 0 {
		return "", usage
	}
	placeholder = usage[i+1 : i+1+j]
	return placeholder, usage[:i] + placeholder + usage[i+1+j+1:]
}

// defaultText is the default --help shows for f, or "" when it shows
// none: urfave/cli's own rule.
func defaultText(f cli.DocGenerationFlag) string {
	if bf, ok := f.(*cli.BoolFlag); ok && bf.DisableDefaultText {
		return ""
	}
	return f.GetDefaultText()
}

// text writes a description: runs of lines at the left margin are filled
// as paragraphs, indented runs (tables of options, examples) are kept as
// they are, their common indent removed.
func text(b *strings.Builder, s string) {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	first := true
	for i := 0; i < len(lines); {
		if strings.TrimSpace(lines[i]) == "" {
			i++
			continue
		}
		j := i
		indented := lines[i][0] == ' ' || lines[i][0] == '\t'
		for j < len(lines) && strings.TrimSpace(lines[j]) != "" && (lines[j][0] == ' ' || lines[j][0] == '\t') == indented {
			j++
		}
		if indented {
			// Blank lines inside an example stay part of it.
			for j < len(lines) && strings.TrimSpace(lines[j]) == "" && j+1 < len(lines) &&
				strings.TrimSpace(lines[j+1]) != "" && (lines[j+1][0] == ' ' || lines[j+1][0] == '\t') {
				j += 2
				for j < len(lines) && strings.TrimSpace(lines[j]) != "" && (lines[j][0] == ' ' || lines[j][0] == '\t') {
					j++
				}
			}
			preformatted(b, lines[i:j])
		} else {
			if !first {
				b.WriteString(".PP\n")
			}
			for _, l := range lines[i:j] {
				b.WriteString(escapeLine(strings.TrimSpace(l)) + "\n")
			}
		}
		first = false
		i = j
	}
}

// preformatted writes lines unfilled and indented, less their common indent.
func preformatted(b *strings.Builder, lines []string) {
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		l = strings.ReplaceAll(l, "\t", "        ")
		n := len(l) - len(strings.TrimLeft(l, " "))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	b.WriteString(".PP\n.RS 4\n.nf\n")
	for _, l := range lines {
		l = strings.ReplaceAll(l, "\t", "        ")
		if len(l) >= indent {
			l = l[indent:]
		}
		if l = strings.TrimRight(l, " "); l == "" {
			b.WriteString(".sp\n")
			continue
		}
		b.WriteString(escapeLine(l) + "\n")
	}
	b.WriteString(".fi\n.RE\n")
}

// escape makes s literal roff text: a backslash printed as one, and every
// hyphen a minus, which man(1) prints as the ASCII '-' a shell needs.
func escape(s string) string {
	return strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
}

// escapeLine escapes s, a line of text, and keeps one starting with '.'
// or '\” from being read as a request.
func escapeLine(s string) string {
	s = escape(s)
	if s != "" && (s[0] == '.' || s[0] == '\'') {
		s = `\&` + s
	}
	return s
}
