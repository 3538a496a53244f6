package rules

import (
	"bytes"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// sets parses the file's "sets:" mapping: name -> family, elements, file.
func (p *fileParser) sets(f field) (Sets, error) {
	if f.val.Kind == yaml.ScalarNode && f.val.ShortTag() == "!!null" {
		return nil, nil
	}
	if f.val.Kind != yaml.MappingNode {
		return nil, p.errorf(f.val, "sets: want a mapping of set names, got %s", kindName(f.val))
	}
	// Counted before any is read: apply would refuse the file only once
	// each set's file: had been read, and say the live state had too many.
	if n := len(f.val.Content) / 2; n > MaxSets {
		return nil, p.errorf(f.val, "%d sets, at most %d allowed", n, MaxSets)
	}
	out := Sets{}
	for i := 0; i+1 < len(f.val.Content); i += 2 {
		k, v := resolve(f.val.Content[i]), resolve(f.val.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return nil, p.errorf(k, "a set named by %s: want a name", kindName(k))
		}
		if err := ValidSetName(k.Value); err != nil {
			return nil, p.errorf(k, "%v", err)
		}
		if _, dup := out[k.Value]; dup {
			return nil, p.errorf(k, "set %s defined twice", k.Value)
		}
		s, err := p.set(k, v)
		if err != nil {
			return nil, err
		}
		out[s.Name] = s
	}
	return out, nil
}

// set parses the set named by key k; n is its value.
func (p *fileParser) set(k, n *yaml.Node) (*Set, error) {
	name := k.Value
	s := &Set{Name: name}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return s, nil // "name:" alone: an empty inet set
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n, "set %s: want a mapping with family, elements or file, got %s", name, kindName(n))
	}
	fs, err := p.fields(n, "family", "elements", "file")
	if err != nil {
		return nil, err
	}
	if f, ok := fs["family"]; ok {
		text, err := p.scalar("family", f)
		if err != nil {
			return nil, err
		}
		if s.Family, err = ParseSetFamily(text); err != nil {
			return nil, p.errorf(f.val, "%v", err)
		}
	}
	if f, ok := fs["elements"]; ok {
		if f.val.Tag == runTag {
			err = p.elementRun(s, f, n)
		} else {
			err = p.elements(s, f, k)
		}
		if err != nil {
			return nil, err
		}
		p.mappedRest(s)
	}
	if f, ok := fs["file"]; ok {
		path, err := p.scalar("file", f)
		if err != nil {
			return nil, err
		}
		if p.opt.ReadSet == nil {
			return nil, p.errorf(f.val, "set %s: set files cannot be read here", name)
		}
		// file: "" (a template's variable left empty) was the ruleset's
		// directory, refused as "not a regular file but a directory".
		if path == "" {
			return nil, p.errorf(f.val, "set %s: file: an empty path", name)
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(p.opt.Dir, path)
		}
		ps, err := p.opt.ReadSet(path, s.Family)
		if err != nil {
			return nil, p.errorf(f.val, "set %s: %v", name, err)
		}
		s.Prefixes = append(s.Prefixes, ps...)
	}
	s.Prefixes = SortPrefixes(s.Prefixes)
	return s, nil
}

// elements parses an inline list of prefixes, each error on its line.
// A list is taken by one set only: an alias gives another set the same
// list (s2: *a, or elements: *a) without its text, and 255 of them made
// a 3 MB file of 200k elements take 50M, gigabytes once parsed. k is the
// set's key, where such an alias is.
func (p *fileParser) elements(s *Set, f field, k *yaml.Node) error {
	if f.val.Kind == yaml.ScalarNode && f.val.ShortTag() == "!!null" {
		return nil
	}
	if f.val.Kind != yaml.SequenceNode {
		return p.errorf(f.val, "set %s: elements: want a list, got %s", s.Name, kindName(f.val))
	}
	if prev, again := p.lists[f.val]; again {
		return p.errorf(k, "set %s: its elements are set %s's list again, through an alias: write them out, or list them in a file: both sets name", s.Name, prev)
	}
	if p.lists == nil {
		p.lists = map[*yaml.Node]string{}
	}
	p.lists[f.val] = s.Name
	for _, item := range f.val.Content {
		item = resolve(item)
		if item.Kind != yaml.ScalarNode {
			return p.errorf(item, "set %s: want a prefix, got %s", s.Name, kindName(item))
		}
		pfx, err := ParsePrefix(item.Value)
		if err == nil {
			err = s.Accepts(pfx)
		}
		if err != nil {
			return p.errorf(item, "set %s: %v", s.Name, err)
		}
		p.mappedElement(s, pfx, item.Line)
		s.Prefixes = append(s.Prefixes, pfx)
	}
	return nil
}

// mappedElement warns of an IPv4-mapped element (MappedPrefix) at its
// line: set add and set load refuse one, but a file takes it, as a
// state whose set an earlier release gave one saves it, and that save
// must still apply. A set's first maxMappedWarnings are warned of one by
// one, the rest counted (mappedRest): a warning for each of a feed's
// 500k took 250 MB and printed 500k lines at every apply.
func (p *fileParser) mappedElement(s *Set, pfx netip.Prefix, line int) {
	if MappedPrefix(pfx) == nil {
		return
	}
	p.mapped++
	switch {
	case p.mapped <= maxMappedWarnings:
		p.warns = append(p.warns, p.warning(WarnCrafted, line, fmt.Errorf("set %s: %w", s.Name, MappedElement(pfx))))
	case p.mapped == maxMappedWarnings+1:
		p.mappedLine = line
	}
}

// maxMappedWarnings is how many IPv4-mapped elements of a set are warned
// of one by one.
const maxMappedWarnings = 10

// mappedRest warns of s's IPv4-mapped elements past the first
// maxMappedWarnings in one warning, at the first's line, and starts the
// count for the next set.
func (p *fileParser) mappedRest(s *Set) {
	if n := p.mapped - maxMappedWarnings; n > 0 {
		p.warns = append(p.warns, p.warning(WarnCrafted, p.mappedLine, fmt.Errorf("set %s: %d more IPv4-mapped elements from this line on: each would match only crafted IPv6 frames, never IPv4's (write them as IPv4)", s.Name, n)))
	}
	p.mapped = 0
}

// elementRun takes the run f stands for as the set's elements: each
// error as elements gives it, on the element's line. set is the set's
// mapping: a flow one, or a run not cut at this line, means the text cut
// out was not the list it looked like (errRunMisplaced).
func (p *fileParser) elementRun(s *Set, f field, set *yaml.Node) error {
	i, err := strconv.Atoi(f.val.Value)
	if err != nil || i < 0 || i >= len(p.runs) || p.runs[i].key != f.val.Line || p.runs[i].taken || set.Style&yaml.FlowStyle != 0 {
		return errRunMisplaced
	}
	run := &p.runs[i]
	run.taken = true
	s.Prefixes = slices.Grow(s.Prefixes, run.n)
	var ferr error
	readRun(run.lines, run.key-1, func(text []byte, line int) {
		if ferr != nil {
			return
		}
		pfx, err := ParsePrefix(string(text))
		if err == nil {
			err = s.Accepts(pfx)
		}
		if err != nil {
			ferr = &FileError{File: p.name, Line: line, Err: fmt.Errorf("set %s: %v", s.Name, err)}
			return
		}
		p.mappedElement(s, pfx, line)
		s.Prefixes = append(s.Prefixes, pfx)
	})
	return ferr
}

// writeSetsYAML writes the sets: section, sets sorted by name, elements
// in canonical order, as the encoder writes the rest of the file. The
// elements go through the encoder a chunk at a time (it quotes those
// YAML would misread, such as 2001:db8::): a node for each element of a
// 1M-element set took save 1.5 GB.
func writeSetsYAML(w *bytes.Buffer, sets Sets) {
	names := make([]string, 0, len(sets))
	for n := range sets {
		names = append(names, n)
	}
	slices.Sort(names)
	w.WriteString("sets:\n")
	for _, n := range names {
		s := sets[n]
		head := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		family := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		addPair(family, "family", strNode(SetFamilyString(s.Family)))
		addPair(head, n, family)
		encodeYAML(w, head, "  ")
		if len(s.Prefixes) == 0 {
			w.WriteString("    elements: []\n")
			continue
		}
		w.WriteString("    elements:\n")
		sorted := SortPrefixes(slices.Clone(s.Prefixes))
		for chunk := range slices.Chunk(sorted, 4096) {
			list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for _, pfx := range chunk {
				list.Content = append(list.Content, strNode(prefixOrAddr(pfx)))
			}
			encodeYAML(w, list, "      ")
		}
	}
}

// prefixOrAddr writes a host prefix as its address, as blocklists do.
func prefixOrAddr(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}
