package rules

import (
	"fmt"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// treeParse parses data the way ParseYAML does when it cuts nothing out:
// the whole YAML tree, what a cut-out run must agree with.
func treeParse(name string, data []byte) (*Ruleset, error) {
	p := fileParser{name: name}
	return p.parse(data)
}

// elementCases are files whose element lists may be cut out of the text
// (cut: how many), or must not be: each must parse as the whole tree does.
var elementCases = []struct {
	name string
	in   string
	cut  int
}{
	{"save's form", "sets:\n  a:\n    family: ipv4\n    elements:\n      - 10.0.0.0/8\n      - 192.0.2.1\n" +
		"  b:\n    family: ipv6\n    elements:\n      - 2001:db8::1\n      - '2001:db8::'\n      - \"2001:db8:1::/48\"\npolicy: drop\n", 2},
	{"comments and blank lines", "sets:\n  a:\n    elements: # the feed\n\n      # first\n      - 10.0.0.1   # one\n\n      - 10.0.0.2\n# out\n    family: ipv4\npolicy: drop\n", 1},
	{"last line without newline", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1\n      - 10.0.0.2", 1},
	{"crlf", "policy: drop\r\nsets:\r\n  a:\r\n    elements:\r\n      - 10.0.0.1\r\n      - 10.0.0.2\r\nrules:\r\n  - {src: \"@a\", action: drop}\r\n", 1},
	{"flow on one line", "policy: drop\nsets:\n  a:\n    elements: [10.0.0.1, '10.0.0.2' , \"10.1.0.0/16\",2001:db8::1]  # x\n", 1},
	{"flow over lines", "policy: drop\nsets:\n  a:\n    elements: [ # feed\n      10.0.0.1,\n\n      10.0.0.2 # two\n      , 10.0.0.3\n      ]\nrules: []\n", 1},
	{"a bad element names its line", "policy: drop\nsets:\n  a:\n    family: ipv6\n    elements:\n      - 2001:db8::1\n      - 10.0.0.1\n", 1},
	{"a bad flow element names its line", "policy: drop\nsets:\n  a:\n    elements: [10.0.0.1,\n      10.0.0.300]\n", 1},
	{"a host prefix with bits set", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1/8\n", 1},
	{"an empty list stays", "policy: drop\nsets:\n  a:\n    elements: []\n", 0},
	{"null stays", "policy: drop\nsets:\n  a:\n    elements:\n  b:\n", 0},
	{"a key at the list's indent ends it", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1\n    family: ipv4\n", 1},
	{"a compact list (same indent) stays", "policy: drop\nsets:\n  a:\n    elements:\n    - 10.0.0.1\n", 0},
	{"mixed item indents stay", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1\n       - 10.0.0.2\n", 0},
	{"a continued plain scalar stays", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1\n        10.0.0.2\n", 0},
	{"a key in a list stays", "policy: drop\nsets:\n  a:\n    elements:\n      - 2001:db8::\n", 0},
	{"an anchor stays", "policy: drop\nsets:\n  a:\n    elements:\n      - &x 10.0.0.1\n  b:\n    elements:\n      - *x\n", 0},
	{"a tab stays", "policy: drop\nsets:\n  a:\n    elements:\n\t- 10.0.0.1\n", 0},
	{"a name that is not an address stays", "policy: drop\nsets:\n  a:\n    elements:\n      - host.example\n", 0},
	{"a hash without a space is not a comment", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1#x\n", 0},
	{"flow with a trailing comma stays", "policy: drop\nsets:\n  a:\n    elements: [10.0.0.1,]\n", 0},
	{"flow with a hash after a comma", "policy: drop\nsets:\n  a:\n    elements: [10.0.0.1,#x\n      10.0.0.2]\n", 0},
	{"unclosed flow", "policy: drop\nsets:\n  a:\n    elements: [10.0.0.1,\n  b:\n", 0},
	{"a list in a block string is not one", "policy: drop\nrules:\n  - action: drop\n    comment: |\n      elements:\n        - 10.0.0.1\n", 1},
	{"in a flow mapping", "policy: drop\nsets:\n  a: {\n    elements:\n      - 10.0.0.1\n  }\n", 1},
	{"in a flow mapping, a flow list", "policy: drop\nsets:\n  a: {\n    elements: [10.0.0.1],\n    family: ipv4 }\n", 0},
	{"in a flow mapping, a flow list last", "policy: drop\nsets:\n  a: {\n    family: ipv4,\n    elements: [10.0.0.1]\n  }\n", 1},
	{"in a quoted string", "policy: \"drop\n  elements:\n    - 10.0.0.1\n  \"\n", 1},
	{"the tag written by hand", "policy: drop\nsets:\n  a:\n    elements: !xdpfw/elements 0\n  b:\n    elements:\n      - 10.0.0.1\n", 1},
	{"a run's tag twice", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1\n  b:\n    elements: !xdpfw/elements 0\n", 1},
	{"elements twice", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1\n    elements:\n      - 10.0.0.2\n", 2},
	{"a key named elements: elsewhere", "policy: drop\nelements:\n  - 10.0.0.1\n", 1},
	{"not a key", "policy: drop\nsets:\n  a:\n    elements:x\n", 0},
	// YAML ends a comment at any line break and refuses control bytes and
	// bad UTF-8 in it: a run with such a comment stays, or what follows
	// the break would be cut out with it (found by review)
	{"a CR in a flow list's comment", "policy: drop\nsets:\n  a:\n    elements: [10.0.0.1, # x\r      10.0.0.9,\n      10.0.0.2]\n", 0},
	{"a NEL in a flow list's comment", "policy: drop\nsets:\n  a:\n    elements: [10.0.0.1, # x\u0085      10.0.0.9,\n      10.0.0.2]\n", 0},
	{"an LS in a flow list's comment", "policy: drop\nsets:\n  a:\n    elements: [10.0.0.1, # x\u2028      10.0.0.9,\n      10.0.0.2]\n", 0},
	{"a PS in a flow list's comment", "policy: drop\nsets:\n  a:\n    elements: [10.0.0.1, # x\u2029      10.0.0.9,\n      10.0.0.2]\n", 0},
	{"a CR in an item's comment hides a rule", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1 # x\rrules: [{action: pass, src: 0.0.0.0/0}]\n", 0},
	{"a CR in an item's comment hides a policy", "sets:\n  a:\n    elements:\n      - 10.0.0.1 # x\rpolicy: pass\npolicy: drop\n", 0},
	{"a NUL in a comment", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1 # \x00\n", 0},
	{"a BEL in a comment", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1 # \x07\n", 0},
	{"bad UTF-8 in a comment", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1 # \xff\n", 0},
	{"a BOM in a comment", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1 # \ufeff\n", 0},
	{"a CR before a later error", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1 # x\r# y\nrules:\n  - action: bogus\n", 0},
	{"a CR in the key line's comment", "policy: drop\nsets:\n  a:\n    elements: # x\r      - 10.0.0.9\n      - 10.0.0.1\n", 0},
	{"a CR after a flow list", "policy: drop\nsets:\n  a:\n    elements: [10.0.0.1] # x\r  b:\n    elements: [10.0.0.2]\n", 1},
	{"an LS in a comment line", "policy: drop\nsets:\n  a:\n    elements:\n      # c\u2028      - 10.0.0.9\n      - 10.0.0.1\n", 0},
	{"a NEL after a comment's hash", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1 # \u0085policy: pass\n", 0},
	{"a CR ends the last line", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1\r", 1},
	{"a %TAG directive", "%TAG ! tag:example.com,2000:\n---\npolicy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1\n", 1},
	{"a document end", "policy: drop\nsets:\n  a:\n    elements:\n      - 10.0.0.1\n...\n", 1},
	{"1e3", "policy: drop\nsets:\n  a:\n    elements:\n      - 1e3\n", 1},
	// save writes these plain: YAML reads a leading ":" so in a block
	// list, as a value indicator in a flow one
	{"from ::", "policy: drop\nsets:\n  a:\n    elements:\n      - ::/0\n      - '::'\n      - ::1\n      - ::ffff:0.0.0.0/96\n      - ::ffff:1.2.3.4 # mapped\n      - ::102:304\n", 1},
	{"a bad element from ::", "policy: drop\nsets:\n  a:\n    elements:\n      - ::1\n      - ::10.0.0.0/8\n", 1},
	{"from :: in flow stays", "policy: drop\nsets:\n  a:\n    elements: [::1]\n", 0},
	{"a colon alone stays", "policy: drop\nsets:\n  a:\n    elements:\n      - :\n", 0},
	{"two colons stay", "policy: drop\nsets:\n  a:\n    elements:\n      - ::\n", 0},
	{"a colon and a space stay", "policy: drop\nsets:\n  a:\n    elements:\n      - : 1\n", 0},
	{"a colon and a slash", "policy: drop\nsets:\n  a:\n    elements:\n      - :/8\n", 1},
}

func TestElementRunsAgreeWithTheTree(t *testing.T) {
	for _, tc := range elementCases {
		t.Run(tc.name, func(t *testing.T) {
			_, runs := cutElementRuns([]byte(tc.in))
			if len(runs) != tc.cut {
				t.Errorf("%d runs cut out, want %d", len(runs), tc.cut)
			}
			checkAgrees(t, []byte(tc.in))
		})
	}
}

// checkAgrees: ParseYAML gives what the whole tree gives, error or not.
func checkAgrees(t *testing.T, data []byte) {
	t.Helper()
	got, gerr := ParseYAML("f.yaml", data, FileOptions{})
	want, werr := treeParse("f.yaml", data)
	if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\ncut out: %+v, %v\ntree:    %+v, %v", data, got, gerr, want, werr)
	}
}

// FuzzElementRuns: whatever the text, the element lists cut out of it
// read as the YAML tree reads them, errors included.
func FuzzElementRuns(f *testing.F) {
	for _, tc := range elementCases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte(exampleYAML))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		checkAgrees(t, data)
	})
}

// A large list read from the text costs a small part of the tree's
// memory (a node of about 400 bytes an element there).
func TestElementRunsMemory(t *testing.T) {
	const n = 100_000
	var b strings.Builder
	b.WriteString("policy: drop\nsets:\n  feed:\n    elements:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - 10.%d.%d.0/24\n", i>>8&255, i&255)
	}
	data := []byte(b.String())
	alloc := func(parse func() (*Ruleset, error)) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rs, err := parse()
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(rs.Sets["feed"].Prefixes); got != 65536 {
			t.Fatalf("%d prefixes, want 65536 (the list repeats)", got)
		}
		return (after.TotalAlloc - before.TotalAlloc) / n
	}
	cut := alloc(func() (*Ruleset, error) { return ParseYAML("feed.yaml", data, FileOptions{}) })
	tree := alloc(func() (*Ruleset, error) { return treeParse("feed.yaml", data) })
	t.Logf("bytes allocated an element: %d cut out, %d in the tree", cut, tree)
	if cut > tree/2 {
		t.Errorf("%d bytes allocated an element, the tree %d: want at most half", cut, tree)
	}
	// The prefix (32 bytes), its text as a string (16), its line's end (8)
	// and the cut text (23 here, at most 8 MiB in all), and little else: no
	// copy of the list's lines or items (142 bytes an element took a
	// 3.5M-element file to 506 MB).
	if cut > 96 {
		t.Errorf("%d bytes allocated an element read from the text, want at most 96", cut)
	}
}

// Above maxTree, YAML that is not cut out is refused in one line; the
// same elements one to a line are read.
func TestElementRunsBound(t *testing.T) {
	var one, flow strings.Builder
	one.WriteString("policy: drop\nsets:\n  feed:\n    elements:\n")
	flow.WriteString("policy: drop\nsets:\n  feed: {elements: [\n")
	for i := 0; flow.Len() <= maxTree; i++ {
		fmt.Fprintf(&one, "      - 10.%d.%d.%d\n", i>>16&255, i>>8&255, i&255)
		fmt.Fprintf(&flow, "      10.%d.%d.%d,\n", i>>16&255, i>>8&255, i&255)
	}
	flow.WriteString("  ]}\n")
	if _, err := ParseYAML("one.yaml", []byte(one.String()), FileOptions{}); err != nil {
		t.Fatalf("one to a line: %v", err)
	}
	_, err := ParseYAML("flow.yaml", []byte(flow.String()), FileOptions{})
	want := fmt.Sprintf("flow.yaml: %d bytes of YAML, over the 8388608 (8 MiB) a ruleset file may hold besides its sets' elements", flow.Len())
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v, want %s...", err, want)
	}
}

// save writes an element from :: (::1, ::ffff:192.0.2.1) plain, as YAML
// reads it in a block list: a large set holding one is read from the
// text as the rest are; its whole list went to the tree, and past
// maxTree the saved file was refused.
func TestElementRunsFromColons(t *testing.T) {
	s := &Set{Name: "v6", Family: FamilyIPv6, Prefixes: []netip.Prefix{netip.MustParsePrefix("::1/128")}}
	for i := 0; len(s.Prefixes)*23 <= maxTree; i++ {
		s.Prefixes = append(s.Prefixes, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}), 128))
	}
	saved := FormatYAML(&Ruleset{Policy: Drop, Sets: Sets{"v6": s}})
	if len(saved) <= maxTree {
		t.Fatalf("save's file of %d bytes, want more than %d", len(saved), maxTree)
	}
	rs, err := ParseYAML("saved.yaml", saved, FileOptions{})
	if err != nil {
		t.Fatalf("save's file of %d bytes: %v", len(saved), err)
	}
	if got := rs.Sets["v6"].Prefixes; len(got) != len(s.Prefixes) || got[0] != s.Prefixes[0] {
		t.Errorf("%d elements read, first %v; want %d, first ::1/128", len(got), got[0], len(s.Prefixes))
	}
}

// A set's element list is taken by one set: an alias giving the list to
// another set again is refused at that set, where 255 of them multiplied
// a small file's elements by 256. An alias to one element is one element.
func TestSetListTakenOnce(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"a set aliased, one to a line", "policy: pass\nsets:\n  a: &x\n    elements:\n      - 10.0.0.1\n  b: *x\n",
			"f.yaml:6: set b: its elements are set a's list again"},
		{"a set aliased, flow", "policy: pass\nsets:\n  a: &x {elements: [10.0.0.1]}\n  b: *x\n",
			"f.yaml:4: set b: its elements are set a's list again"},
		{"a list aliased", "policy: pass\nsets:\n  a:\n    elements: &y [10.0.0.1]\n  b:\n    family: ipv4\n    elements: *y\n",
			"f.yaml:5: set b: its elements are set a's list again"},
	} {
		_, err := ParseYAML("f.yaml", []byte(c.in), FileOptions{})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %s...", c.name, err, c.want)
		}
	}
	var b strings.Builder
	b.WriteString("policy: pass\nsets:\n  a: &x\n    elements: [")
	for i := range 20_000 {
		fmt.Fprintf(&b, "10.0.%d.%d, ", i>>8&255, i&255)
	}
	b.WriteString("]\n")
	for i := range 255 {
		fmt.Fprintf(&b, "  s%d: *x\n", i)
	}
	if _, err := ParseYAML("bomb.yaml", []byte(b.String()), FileOptions{}); err == nil || !strings.Contains(err.Error(), "set s0: its elements are set a's list again") {
		t.Errorf("255 aliases of a list: got %v", err)
	}
	rs, err := ParseYAML("f.yaml", []byte("policy: pass\nsets:\n  a:\n    elements: [&z 10.0.0.1]\n  b:\n    elements: [*z]\n"), FileOptions{})
	if err != nil || len(rs.Sets["b"].Prefixes) != 1 {
		t.Errorf("an alias to one element: %v", err)
	}
}

// TestMappedElementWarned: a set's IPv4-mapped element (set add and set
// load refuse one) is taken from a ruleset file, as a state holding one
// saves it, with a warning at its line, in an element run as in the
// YAML tree; the mapped range itself is no warning.
func TestMappedElementWarned(t *testing.T) {
	file := "policy: pass\nsets:\n  a:\n    elements:\n      - 10.0.0.1\n      - ::ffff:192.0.2.1\n  b: {elements: [\"::ffff:0:0/96\", \"::ffff:10.0.0.0/104\"]}\n"
	want := []string{
		"f.yaml:6: set a: ::ffff:192.0.2.1/128 is IPv4 192.0.2.1/32 written as IPv6 (IPv4-mapped): it would match only crafted IPv6 frames, never IPv4's (write 192.0.2.1/32)",
		"f.yaml:7: set b: ::ffff:10.0.0.0/104 is IPv4 10.0.0.0/8 written as IPv6 (IPv4-mapped): it would match only crafted IPv6 frames, never IPv4's (write 10.0.0.0/8)",
	}
	for what, parse := range map[string]func(string, []byte) (*Ruleset, error){
		"ParseYAML": func(name string, data []byte) (*Ruleset, error) { return ParseYAML(name, data, FileOptions{}) },
		"the tree":  treeParse,
	} {
		rs, err := parse("f.yaml", []byte(file))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := warningTexts(rs); !reflect.DeepEqual(got, want) || rs.Warnings[0].Kind != WarnCrafted {
			t.Errorf("%s: warnings %q, want %q", what, got, want)
		}
		if n := len(rs.Sets["a"].Prefixes) + len(rs.Sets["b"].Prefixes); n != 4 {
			t.Errorf("%s: %d elements, want all 4", what, n)
		}
	}
}

// TestMappedElementsCounted: past the first ten of a set, its IPv4-mapped
// elements are one warning, counting them, at the first's line; each was
// a warning of its own (250 MB and 500k lines of them for a 500k feed).
func TestMappedElementsCounted(t *testing.T) {
	var b strings.Builder
	b.WriteString("policy: pass\nsets:\n  a:\n    elements:\n")
	for i := range 25 {
		fmt.Fprintf(&b, "      - ::ffff:10.0.0.%d\n", i)
	}
	b.WriteString("  b: {elements: [\"::ffff:10.0.0.1\", \"::ffff:10.0.0.2\"]}\n")
	data := []byte(b.String())
	checkAgrees(t, data)
	rs, err := ParseYAML("f.yaml", data, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := warningTexts(rs)
	if len(got) != 13 || !strings.HasPrefix(got[9], "f.yaml:14: set a: ::ffff:10.0.0.9/128 is IPv4") ||
		got[10] != "f.yaml:15: set a: 15 more IPv4-mapped elements from this line on: each would match only crafted IPv6 frames, never IPv4's (write them as IPv4)" ||
		!strings.HasPrefix(got[12], "f.yaml:30: set b: ::ffff:10.0.0.2/128 is IPv4") {
		t.Errorf("warnings:\n%s", strings.Join(got, "\n"))
	}
	if n := len(rs.Sets["a"].Prefixes); n != 25 {
		t.Errorf("set a: %d elements, want all 25", n)
	}
}
