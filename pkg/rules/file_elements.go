package rules

import (
	"bytes"
	"errors"
	"strconv"
)

// A set's inline elements are read from the text, not through the YAML
// tree: yaml.v3 holds a node of about 400 bytes for every element, so a
// 1M-element list took 450 MB and a 57 MB flow list 1.5 GB. Before the
// document is parsed, cutElementRuns finds each "elements:" whose list
// has the shapes save and people write (one element to a line, or a
// flow list [a, b] over one or more lines, each element a plain or quoted
// address or prefix), keeps its elements and their lines, and puts in its
// place a scalar tagged runTag naming the run, blanking the other lines so
// every line keeps its number. The parser then takes a run where a set's
// elements are. A run it does not take (the text only looked like one:
// inside a block string, say) sends the file to the whole-tree parse.

// runTag marks a scalar standing for a run; its value is the run's index.
const runTag = "!xdpfw/elements"

// maxTree bounds the YAML the tree is built from. A node costs about 400
// bytes however short its text, so 8 MiB of YAML can take 0.8 GB of
// memory; rules (at most 4096) fit many times over.
const maxTree = 8 << 20

// errRunMisplaced: the parser met a run's scalar where the run cannot be.
var errRunMisplaced = errors.New("an element list cut out of the text was not one")

// tookAllRuns: every run cut out was taken as a set's elements.
func (p *fileParser) tookAllRuns() bool {
	for _, r := range p.runs {
		if !r.taken {
			return false
		}
	}
	return true
}

// elementRun is one "elements:" list found in the text. Its elements are
// read from the text again where the set takes them (readRun), not kept:
// their texts and lines were a copy of the list as large as its prefixes
// (32 bytes an element, 107 MB of a 3.5M-element set).
type elementRun struct {
	key   int       // line of "elements:", 1-based
	n     int       // its elements
	lines textLines // the text's
	taken bool
}

// textLines are a text's lines as bytes.SplitAfter(data, "\n") gives
// them (each with its "\n", the last without and maybe empty), found by
// number through their ends: a slice header for each line took 80 MB of
// a 3.5M-line file.
type textLines struct {
	data []byte
	ends []int // line i ends (after its "\n") at ends[i], starts at ends[i-1] or 0
}

func splitLines(data []byte) textLines {
	t := textLines{data: data, ends: make([]int, 0, bytes.Count(data, []byte("\n"))+1)}
	for off := 0; ; {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
		t.ends = append(t.ends, off)
	}
	t.ends = append(t.ends, len(data))
	return t
}

func (t textLines) len() int { return len(t.ends) }

func (t textLines) at(i int) []byte {
	start := 0
	if i > 0 {
		start = t.ends[i-1]
	}
	return t.data[start:t.ends[i]:t.ends[i]]
}

// cutElementRuns returns data with its element runs cut out, and the runs.
func cutElementRuns(data []byte) ([]byte, []elementRun) {
	lines := splitLines(data)
	var runs []elementRun
	var out bytes.Buffer
	// The cut text is taken only up to maxTree (ParseYAML), so no more is
	// reserved: len(data), what the runs are mostly of, was a copy of the
	// file that a 3.5M-element set held through its parse.
	out.Grow(min(len(data), maxTree+1))
	for i := 0; i < lines.len(); {
		// counted, so the set's prefixes are one allocation: growing the
		// slice a million elements long took a tenth of a 1M-set apply
		n := 0
		next, ok := readRun(lines, i, func([]byte, int) { n++ })
		if !ok || n == 0 {
			out.Write(lines.at(i))
			i++
			continue
		}
		run := elementRun{key: i + 1, n: n, lines: lines}
		indent := lineIndent(lines.at(i))
		out.Write(lines.at(i)[:indent])
		out.WriteString("elements: " + runTag + " " + strconv.Itoa(len(runs)) + "\n")
		for range next - i - 1 {
			out.WriteByte('\n')
		}
		// the run's last line may have had no newline
		if last := lines.at(next - 1); len(last) == 0 || last[len(last)-1] != '\n' {
			out.Truncate(out.Len() - 1)
		}
		runs = append(runs, run)
		i = next
	}
	if runs == nil {
		return data, nil
	}
	return out.Bytes(), runs
}

// readRun reads a run whose "elements:" is line i, giving add each
// element and its line, and returns the line after it; ok is false when
// line i starts none.
func readRun(lines textLines, i int, add func(text []byte, line int)) (next int, ok bool) {
	line := trimEOL(lines.at(i))
	k := lineIndent(line)
	rest, found := bytes.CutPrefix(line[k:], []byte("elements:"))
	if !found || !printable(line) {
		return 0, false
	}
	if len(rest) > 0 && rest[0] != ' ' {
		return 0, false // "elements:x" is a plain scalar, not a key
	}
	rest = bytes.TrimLeft(rest, " ")
	if len(rest) > 0 && rest[0] == '[' {
		return readFlow(lines, i, k, rest[1:], add)
	}
	if !blankOrComment(rest, true) {
		return 0, false
	}
	itemIndent := -1
	j := i + 1
	for ; j < lines.len(); j++ {
		l := trimEOL(lines.at(j))
		n := lineIndent(l)
		blank := blankOrComment(l[n:], true)
		if !blank && n <= k {
			return j, true
		}
		if !printable(l) {
			return 0, false
		}
		switch {
		case blank:
			continue
		case itemIndent == -1:
			itemIndent = n
		case n != itemIndent:
			return 0, false
		}
		body, found := bytes.CutPrefix(l[n:], []byte("- "))
		if !found {
			return 0, false
		}
		body = bytes.TrimLeft(body, " ")
		text, size := element(body, false)
		if size == 0 || !blankOrComment(body[size:], false) {
			return 0, false
		}
		add(text, j+1)
	}
	return j, true
}

// readFlow reads a flow list's elements from rest (line i, after its
// "[") to its "]", over lines indented more than k.
func readFlow(lines textLines, i, k int, rest []byte, add func([]byte, int)) (next int, ok bool) {
	want := "item" // then "sep": a "," or the "]"
	lineStart := false
	for {
		t := bytes.TrimLeft(rest, " ")
		// a comment needs a space before its "#"
		if len(t) == 0 || t[0] == '#' && (lineStart || len(t) < len(rest)) {
			for i++; i < lines.len(); i++ {
				l := trimEOL(lines.at(i))
				if !printable(l) {
					return 0, false
				}
				n := lineIndent(l)
				if blankOrComment(l[n:], true) {
					continue
				}
				if n <= k {
					return 0, false
				}
				rest = l[n:]
				break
			}
			if i == lines.len() {
				return 0, false
			}
			lineStart = true
			continue
		}
		rest, lineStart = t, false
		if want == "sep" {
			switch rest[0] {
			case ',':
				want, rest = "item", rest[1:]
				continue
			case ']':
				if !blankOrComment(rest[1:], false) {
					return 0, false
				}
				return i + 1, true
			}
			return 0, false
		}
		text, size := element(rest, true)
		if size == 0 {
			return 0, false
		}
		add(text, i+1)
		want, rest = "sep", rest[size:]
	}
}

// element reads an address or prefix at the start of b: plain, or in
// single or double quotes with nothing to escape. It returns the text and
// the bytes it took, 0 for anything else. A plain one starts with a hex
// digit, or outside a flow list with ":" and another address byte (YAML
// reads "::1" so in a block list, and as a value indicator in a flow
// list), and does not end in ":", which YAML would read as a key.
func element(b []byte, flow bool) (text []byte, size int) {
	if len(b) == 0 {
		return nil, 0
	}
	if q := b[0]; q == '"' || q == '\'' {
		n := 1
		for n < len(b) && elementByte(b[n]) {
			n++
		}
		if n == 1 || n == len(b) || b[n] != q {
			return nil, 0
		}
		return b[1:n], n + 1
	}
	// save writes ::1 and ::ffff:192.0.2.1 plain: refused, they sent
	// a set's whole list to the tree, and one of over 8 MiB was refused.
	if !isHex(b[0]) && (flow || b[0] != ':' || len(b) < 2 || !elementByte(b[1])) {
		return nil, 0
	}
	n := 1
	for n < len(b) && elementByte(b[n]) {
		n++
	}
	if b[n-1] == ':' {
		return nil, 0
	}
	// what follows must end the scalar: a space, the line's end, or in a
	// flow list its "," or "]"
	if n < len(b) && b[n] != ' ' && !(flow && (b[n] == ',' || b[n] == ']')) {
		return nil, 0
	}
	return b[:n], n
}

func elementByte(c byte) bool { return isHex(c) || c == '.' || c == ':' || c == '/' }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// blankOrComment: b holds nothing but spaces, or spaces then a comment
// (which needs a space before its "#" unless it starts the text: start).
func blankOrComment(b []byte, start bool) bool {
	t := bytes.TrimLeft(b, " ")
	if len(t) == 0 {
		return true
	}
	return t[0] == '#' && (start || len(t) < len(b))
}

func lineIndent(l []byte) int {
	n := 0
	for n < len(l) && l[n] == ' ' {
		n++
	}
	return n
}

// printable: a line of a run holds printable ASCII only. YAML ends a
// comment at a "\r" or a Unicode line break too, and refuses control
// characters and bad UTF-8 in it: a run's comments are cut out unread,
// so text after such a break (a rule, say) would be lost with them.
func printable(l []byte) bool {
	for _, c := range l {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// trimEOL drops a line's "\n" or "\r\n".
func trimEOL(l []byte) []byte {
	l = bytes.TrimSuffix(l, []byte("\n"))
	return bytes.TrimSuffix(l, []byte("\r"))
}
