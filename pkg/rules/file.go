package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// A ruleset file is YAML:
//
//	policy: drop          # pass|drop, required
//	sets:                 # optional named address sets
//	  blocked:
//	    family: inet      # ipv4, ipv6 or inet (default)
//	    elements: [192.0.2.0/24, 2001:db8::/32]
//	    file: drop.txt    # and/or a blocklist file, relative to this file
//	interfaces:           # optional: apply attaches to exactly these
//	  - {name: eth0, mode: native}   # mode auto (default), native or generic
//	conntrack:            # optional: connection tracking's table size and timeouts (file_conntrack.go)
//	  max-flows: 65536
//	  timeouts: {udp: 30s, tcp-established: 5d}
//	rules:
//	  - action: pass      # required
//	    priority: 10      # optional, default DefaultPriority
//	    src: 10.0.0.0/8   # optional conditions, keyed as in Conditions
//	    proto: tcp
//	    dport: 22
//	    tcp-flags: syn,!ack
//	    comment: ssh from the office   # optional, for people
//
// The policy is required: a file without one (an empty, comment-only or
// cut-off file) is refused rather than read as "policy pass, no rules",
// which would open the firewall. Rules get IDs 1..N in file order. The file is read as a yaml.Node tree
// rather than unmarshalled into structs so that every error, including
// unknown keys and bad values, names the line it is about.

// FileError is an error about one place in a ruleset file.
type FileError struct {
	File string
	Line int // 0 when the error is about the file as a whole
	Err  error
}

func (e *FileError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// FileOptions say how a ruleset file's sets read their element files.
type FileOptions struct {
	// Dir is where relative set file paths start ("" is the working
	// directory); ParseFile sets it to the ruleset file's directory.
	Dir string
	// ReadSet reads a blocklist file of the family; nil refuses set files.
	ReadSet func(path string, fam Family) ([]netip.Prefix, error)
}

// ParseFile reads and parses a ruleset file; errors name path and line.
func ParseFile(path string, opt FileOptions) (*Ruleset, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if opt.Dir == "" {
		opt.Dir = filepath.Dir(path)
	}
	return ParseYAML(path, data, opt)
}

// ParseYAML parses a ruleset from data; name is used in error messages
// ("name:line: ..."). The result passes Ruleset.Validate.
func ParseYAML(name string, data []byte, opt FileOptions) (*Ruleset, error) {
	doc, runs := cutElementRuns(data)
	if runs != nil && len(doc) <= maxTree {
		p := fileParser{name: name, opt: opt, runs: runs}
		rs, err := p.parse(doc)
		if !errors.Is(err, errRunMisplaced) && p.tookAllRuns() {
			return rs, err
		}
		doc = data // what looked like element lists was not
	}
	if len(data) > maxTree {
		// Said so whether or not the file has sets: the limit is the
		// file's, and only sets' elements, written so, may go past it.
		return nil, &FileError{File: name, Err: fmt.Errorf("%d bytes of YAML, over the %d (%d MiB) a ruleset file may hold "+
			"besides its sets' elements, which go past it one to a line under elements: (as save writes them) or in a file: list", len(doc), maxTree, maxTree>>20)}
	}
	p := fileParser{name: name, opt: opt}
	return p.parse(data)
}

// parse parses the ruleset in data, which may have its runs cut out.
func (p *fileParser) parse(data []byte) (*Ruleset, error) {
	name := p.name
	root, err := p.document(data)
	if err != nil {
		return nil, err
	}
	if root == nil || (root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null") {
		return nil, &FileError{File: name, Err: ErrNoPolicy}
	}
	rs := &Ruleset{Policy: Pass}
	if err := p.ruleset(root, rs); err != nil {
		return nil, err
	}
	// Every rule was checked with its line already; this catches anything
	// the per-rule checks do not (and keeps the promise in the doc).
	if err := rs.Validate(); err != nil {
		return nil, &FileError{File: name, Err: err}
	}
	return rs, nil
}

// ErrNoPolicy refuses a ruleset file without a policy key.
var ErrNoPolicy = errors.New("no policy: a ruleset file must say policy: pass or policy: drop (an empty or cut-off file would open the firewall)")

type fileParser struct {
	name  string
	opt   FileOptions
	runs  []elementRun          // the element lists cut out of the text
	lists map[*yaml.Node]string // the element lists sets took, and which
	// warns are the sets' warnings (mappedElement), for the ruleset's.
	warns []Warning
	// mapped counts the IPv4-mapped elements of the set being read, and
	// mappedLine is the line of the first past those warned of one by one.
	mapped, mappedLine int
}

func (p *fileParser) errorf(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &FileError{File: p.name, Line: line, Err: fmt.Errorf(format, args...)}
}

// yamlLineErr matches yaml.v3 syntax errors, "yaml: line N: message".
var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses the YAML text and returns the top-level content node, or
// nil for an empty document. A second document is an error: it would be
// silently ignored otherwise.
func (p *fileParser) document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, p.syntaxError(err, data)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, p.syntaxError(err, data)
		}
		at := &extra
		if len(extra.Content) > 0 {
			at = extra.Content[0]
		}
		return nil, p.errorf(at, "more than one YAML document (want one ruleset)")
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// syntaxError turns yaml.v3's "yaml: line N: msg" into a FileError. The
// line is yaml.v3's: for some parser errors it is where the enclosing
// block starts rather than the offending token, but it is still the best
// place the library knows. Its errors about the text itself (a control
// character, bytes that are not UTF-8) carry no line: badText finds it.
func (p *fileParser) syntaxError(err error, data []byte) error {
	msg := err.Error()
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &FileError{File: p.name, Line: line, Err: errors.New(m[2])}
	}
	if line, what := badText(data); line != 0 {
		return &FileError{File: p.name, Line: line, Err: errors.New(what)}
	}
	return &FileError{File: p.name, Err: errors.New(strings.TrimPrefix(msg, "yaml: "))}
}

// resolve follows an alias to the node it names, so anchors work.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// kindName describes a node's type for "want X, got Y" messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%s %s", strings.TrimPrefix(n.ShortTag(), "!!"), quoteShort(n.Value))
	}
	return "something else"
}

// maxQuote is the longest text of a file an error quotes: the file may
// not be a ruleset at all (/etc/shadow read as YAML is a long string, or
// a mapping with long keys), and its contents must not end up in a
// terminal or a log. A longer text is described by its length.
const maxQuote = 24

// quoteShort quotes s if it is at most maxQuote bytes, else gives its length.
func quoteShort(s string) string {
	if len(s) <= maxQuote {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("(%d bytes, not quoted)", len(s))
}

// field is one key/value pair of a mapping.
type field struct {
	key, val *yaml.Node
}

// fields returns a mapping's pairs, rejecting unknown and repeated keys.
func (p *fileParser) fields(m *yaml.Node, known ...string) (map[string]field, error) {
	out := make(map[string]field, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := resolve(m.Content[i]), resolve(m.Content[i+1])
		name := k.Value
		if k.Kind != yaml.ScalarNode { // ? [a, b]: its Value is ""
			return nil, p.errorf(k, "a field named by %s: want a name", kindName(k))
		}
		if !slices.Contains(known, name) {
			return nil, p.errorf(k, "unknown field %s", quoteShort(name))
		}
		if prev, dup := out[name]; dup {
			return nil, p.errorf(k, "field %q repeated (first on line %d)", name, prev.key.Line)
		}
		out[name] = field{key: k, val: v}
	}
	return out, nil
}

// The longest value of a field, and of a set's file path.
const (
	maxValue = 72 // "fin,syn,rst,psh,ack,urg,ecn,cwr / fin,syn,rst,psh,ack,urg,ecn,cwr" is 65
	maxPath  = 4096
)

// scalar returns a field's text; lists, mappings and empty values are
// wrong types. Any scalar tag is accepted (a port may be a YAML int): the
// text is then parsed by the field's own parser, which rejects bad values.
func (p *fileParser) scalar(name string, f field) (string, error) {
	if f.val.Kind != yaml.ScalarNode || f.val.ShortTag() == "!!null" {
		return "", p.errorf(f.val, "%s: want a value, got %s", name, kindName(f.val))
	}
	// The field parsers quote a bad value whole: a value longer than any
	// good one is refused by its length instead.
	max := maxValue
	switch name {
	case "file":
		max = maxPath
	case CommentKey:
		max = MaxComment
	}
	if n := len(f.val.Value); n > max {
		return "", p.errorf(f.val, "%s: a value of %d bytes, at most %d", name, n, max)
	}
	return f.val.Value, nil
}

// ruleset fills rs from the top-level mapping.
func (p *fileParser) ruleset(root *yaml.Node, rs *Ruleset) error {
	if root.Kind != yaml.MappingNode {
		return p.errorf(root, "want a mapping with policy and rules, got %s", kindName(root))
	}
	fs, err := p.fields(root, "policy", "sets", "interfaces", "conntrack", "rules")
	if err != nil {
		return err
	}
	if f, ok := fs["conntrack"]; ok {
		if rs.Conntrack, err = p.conntrack(f); err != nil {
			return err
		}
	}
	if f, ok := fs["interfaces"]; ok {
		if rs.Interfaces, err = p.interfaces(f); err != nil {
			return err
		}
	}
	if f, ok := fs["sets"]; ok {
		if rs.Sets, err = p.sets(f); err != nil {
			return err
		}
		rs.Warnings = append(rs.Warnings, p.warns...)
	}
	pf, hasPolicy := fs["policy"]
	if hasPolicy {
		s, err := p.scalar("policy", pf)
		if err != nil {
			return err
		}
		if rs.Policy, err = ParsePolicy(s); err != nil {
			return p.errorf(pf.val, "%v", err)
		}
	}
	// The rules are checked first: a file with a bad rule and no policy
	// gets the rule's error, which names a line.
	if err := p.rules(fs, rs); err != nil {
		return err
	}
	if !hasPolicy {
		return &FileError{File: p.name, Err: ErrNoPolicy}
	}
	// The default's size said out loud is the default only where the
	// ruleset reads connection state (MaxFlowsFor).
	rs.Conntrack.MaxFlows = rs.MaxFlowsFor(rs.CTFlows())
	return nil
}

// rules parses the "rules:" list into rs.Rules.
func (p *fileParser) rules(fs map[string]field, rs *Ruleset) error {
	f, ok := fs["rules"]
	if !ok || (f.val.Kind == yaml.ScalarNode && f.val.ShortTag() == "!!null") {
		return nil // "rules:" with nothing after it: no rules
	}
	if f.val.Kind != yaml.SequenceNode {
		return p.errorf(f.val, "rules: want a list, got %s", kindName(f.val))
	}
	if n := len(f.val.Content); n > MaxRules {
		return p.errorf(f.val, "%d rules, at most %d allowed", n, MaxRules)
	}
	for i, item := range f.val.Content {
		r, warns, err := p.rule(resolve(item), rs.Sets)
		if err != nil {
			return err
		}
		for _, w := range warns {
			w.Err = fmt.Errorf("rule #%d: %w", i+1, w.Err)
			rs.Warnings = append(rs.Warnings, w)
		}
		r.ID = uint32(i + 1)
		rs.Rules = append(rs.Rules, r)
	}
	return nil
}

// ruleKeys are a rule mapping's keys, in the order FormatYAML writes them:
// action, priority, every condition, then log and the comment.
var ruleKeys = func() []string {
	keys := []string{"action", "priority"}
	for _, c := range Conditions {
		keys = append(keys, c.Key)
	}
	return append(keys, LogKey, CommentKey)
}()

// rule parses one rule mapping, whose @NAMEs must be among the file's
// sets; its errors carry the line of the offending key or value, or of
// the rule itself for a rule-level problem. warns are what it took but
// rule add refuses, each at its line too.
func (p *fileParser) rule(n *yaml.Node, sets Sets) (r Rule, warns []Warning, err error) {
	if n.Kind != yaml.MappingNode {
		return r, nil, p.errorf(n, "rule: want a mapping, got %s", kindName(n))
	}
	fs, err := p.fields(n, ruleKeys...)
	if err != nil {
		return r, nil, err
	}
	if _, ok := fs["action"]; !ok {
		return r, nil, p.errorf(n, "rule has no action (want action: pass or drop)")
	}
	priority := uint32(DefaultPriority)
	if f, ok := fs["priority"]; ok {
		if priority, err = p.priority(f); err != nil {
			return r, nil, err
		}
	}
	texts := map[string]string{}
	for _, key := range ruleKeys {
		f, ok := fs[key]
		if !ok || key == "priority" {
			continue
		}
		if texts[key], err = p.scalar(key, f); err != nil {
			return r, nil, err
		}
	}
	action := texts["action"]
	delete(texts, "action")
	// A tcp-flags list NewRule refuses for rule add ("syn,ack": all set,
	// or any?) is taken with a warning, as all set: the previous release
	// read and saved it so, and its files must still apply.
	flags := texts["tcp-flags"]
	if why := ambiguousTCPFlags(flags); why != nil {
		warns = append(warns, p.warning(WarnTCPFlags, fs["tcp-flags"].val.Line, &FieldError{"tcp-flags", why}))
		texts["tcp-flags"] = flags + " / " + flags
	}
	// A comment of only spaces, which NewRule refuses for rule add, is
	// taken as written: the previous release saved it so, and its file
	// (or a state's save holding one) must still apply.
	comment, blank := texts[CommentKey], false
	if comment != "" && strings.Trim(comment, " ") == "" {
		blank = true
		delete(texts, CommentKey)
	}
	r, err = NewRule(priority, action, texts)
	var fe *FieldError
	if errors.As(err, &fe) {
		return r, nil, p.errorf(fs[fe.Key].val, "%v", fe)
	}
	if err != nil {
		return r, nil, p.errorf(n, "%v", err)
	}
	if blank {
		if err := ValidComment(comment); err != nil {
			return r, nil, p.errorf(fs[CommentKey].val, "%s: %v", CommentKey, err)
		}
		r.Comment = comment
	}
	// The file's sets are all there will be: apply replaces the live sets
	// with them, so a set made by set create does not count.
	for _, ref := range [...]struct{ key, name string }{{"src", r.Match.SrcSet}, {"dst", r.Match.DstSet}} {
		if ref.name != "" && sets[ref.name] == nil {
			return r, nil, p.errorf(fs[ref.key].val, "%s: set @%s is not in the file: define it under sets: (the file's sets replace the live ones)", ref.key, ref.name)
		}
	}
	// A set of the other family: a rule-level problem, at the rule's line.
	if err := r.Match.validSetRefs(sets); err != nil {
		return r, nil, p.errorf(n, "%v", err)
	}
	if err := r.checkFamilies(sets, false); err != nil {
		return r, nil, p.errorf(n, "%v", err)
	}
	// What rule add refuses beyond that is taken, as the previous
	// release saved it, and said at the rule's line.
	if err := r.CheckFamilies(sets); err != nil {
		warns = append(warns, p.warning(WarnCrafted, n.Line, err))
	}
	return r, warns, nil
}

// warning is a Warning of kind about the file's line.
func (p *fileParser) warning(kind WarningKind, line int, err error) Warning {
	return Warning{Kind: kind, FileError: FileError{File: p.name, Line: line, Err: err}}
}

// priority must be a YAML integer: a quoted "10", a !!str or 10.5 is a
// type error. Plain digits are decimal, leading zeros and all, as ports
// are: YAML's resolver would read 0100 as octal 64, running the rule
// before those of 65 to 99, and refuse 09 as a float. 0x and 0o say
// their base; any other form YAML reads as a number (+010, 0_100) is
// refused rather than guessed.
func (p *fileParser) priority(f field) (uint32, error) {
	tag := f.val.ShortTag()
	if f.val.Kind != yaml.ScalarNode || (tag != "!!int" && !(tag == "!!float" && allDigits(f.val.Value))) {
		return 0, p.errorf(f.val, "priority: want an integer, got %s", kindName(f.val))
	}
	v := f.val.Value
	var n uint64
	var err error
	switch {
	case allDigits(v):
		n, err = strconv.ParseUint(v, 10, 64)
	case strings.HasPrefix(v, "0x") || strings.HasPrefix(v, "0o"):
		n, err = strconv.ParseUint(v[2:], map[byte]int{'x': 16, 'o': 8}[v[1]], 64)
		// YAML reads 0x1_0 as an integer: its _ is a bad digit here, not
		// a value out of range.
		if errors.Is(err, strconv.ErrSyntax) {
			return 0, p.errorf(f.val, "priority: want an integer in decimal digits (or 0x, 0o), got %s", kindName(f.val))
		}
	case strings.HasPrefix(v, "-") && allDigits(v[1:]):
		return 0, p.errorf(f.val, "priority %s out of range (0-%d)", v, MaxPriority)
	default:
		return 0, p.errorf(f.val, "priority: want an integer in decimal digits (or 0x, 0o), got %s", kindName(f.val))
	}
	if err != nil || n > MaxPriority {
		return 0, p.errorf(f.val, "priority %s out of range (0-%d)", v, MaxPriority)
	}
	return uint32(n), nil
}

// FormatYAML writes rs in the file format, rules in evaluation order
// (Sorted) with the priority always written. ParseYAML gives back the same
// policy and the same rules in the same evaluation order; only the IDs
// change, renumbered 1..N in that order (ties in priority keep their
// order because their IDs stay increasing).
func FormatYAML(rs *Ruleset) []byte {
	list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, r := range Sorted(rs.Rules) {
		list.Content = append(list.Content, ruleNode(r))
	}
	if len(list.Content) == 0 {
		list.Style = yaml.FlowStyle // "rules: []"
	}
	var buf bytes.Buffer
	if len(rs.Sets) > 0 {
		writeSetsYAML(&buf, rs.Sets)
	}
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if rs.Interfaces != nil {
		addPair(root, "interfaces", interfacesNode(rs.Interfaces))
	}
	if n := conntrackNode(rs.Conntrack); n != nil {
		addPair(root, "conntrack", n)
	}
	addPair(root, "rules", list)
	// Last: a file cut short anywhere (a full disk, a copy or a pipe that
	// broke) has no policy, which ParseYAML refuses, where with the policy
	// first a cut after a rule's action could leave a rule that passes
	// everything, or a pass policy without its drop rules.
	policy := strNode("policy")
	policy.HeadComment = "the policy comes last: a copy of this file cut short is refused"
	root.Content = append(root.Content, policy, strNode(rs.Policy.String()))
	encodeYAML(&buf, root, "")
	return buf.Bytes()
}

// encodeYAML writes n as the file format does (two-space indents), each
// line after indent.
func encodeYAML(w *bytes.Buffer, n *yaml.Node, indent string) {
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		// Only programming errors (an invalid node tree) get here.
		panic(fmt.Sprintf("rules: FormatYAML: %v", err))
	}
	if err := enc.Close(); err != nil {
		panic(fmt.Sprintf("rules: FormatYAML: %v", err))
	}
	if indent == "" {
		w.Write(out.Bytes())
		return
	}
	for line := range bytes.Lines(out.Bytes()) {
		w.WriteString(indent)
		w.Write(line)
	}
}

func ruleNode(r Rule) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	addPair(n, "action", strNode(r.Action.String()))
	addPair(n, "priority", intNode(strconv.Itoa(int(r.Priority))))
	for _, kv := range FormatMatch(&r.Match) {
		addPair(n, kv[0], valueNode(kv[1]))
	}
	if r.Log {
		addPair(n, LogKey, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
	}
	if r.Comment != "" {
		addPair(n, CommentKey, strNode(r.Comment))
	}
	return n
}

// valueNode writes a number as a YAML int ("22", not "'22'"); anything
// else (a range, a name, a prefix) is a plain string.
func valueNode(s string) *yaml.Node {
	if allDigits(s) {
		return intNode(s)
	}
	return strNode(s)
}

func addPair(m *yaml.Node, key string, val *yaml.Node) {
	m.Content = append(m.Content, strNode(key), val)
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func intNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: s}
}
