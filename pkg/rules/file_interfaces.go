package rules

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Interface is one entry of a ruleset file's interfaces: list: an
// interface the file wants xdpfw attached to, and how.
type Interface struct {
	Name string `json:"name"`
	// Mode is auto, native or generic (pkg/loader's attach modes); auto
	// when the file leaves it out.
	Mode string `json:"mode"`
}

// The attach modes a file may name. The loader owns their meaning; the
// names are checked here so a bad one is refused with its line.
var ifaceModes = []string{"auto", "native", "generic"}

// interfaces parses the file's "interfaces:" list. "interfaces: []"
// gives an empty, non-nil list (attached to nothing); a file without the
// key leaves Ruleset.Interfaces nil (attachments are not the file's
// business).
func (p *fileParser) interfaces(f field) ([]Interface, error) {
	if f.val.Kind != yaml.SequenceNode {
		return nil, p.errorf(f.val, "interfaces: want a list like [{name: eth0, mode: native}], got %s", kindName(f.val))
	}
	out := []Interface{}
	line := map[string]int{}
	for _, item := range f.val.Content {
		n := resolve(item)
		if n.Kind != yaml.MappingNode {
			return nil, p.errorf(n, "interface: want a mapping like {name: eth0, mode: native}, got %s", kindName(n))
		}
		fs, err := p.fields(n, "name", "mode")
		if err != nil {
			return nil, err
		}
		nf, ok := fs["name"]
		if !ok {
			return nil, p.errorf(n, "interface has no name (want name: eth0)")
		}
		ifc := Interface{Mode: "auto"}
		if ifc.Name, err = p.scalar("name", nf); err != nil {
			return nil, err
		}
		if _, err := ParseIfaceName(ifc.Name); err != nil {
			return nil, p.errorf(nf.val, "%v", err)
		}
		if first, dup := line[ifc.Name]; dup {
			return nil, p.errorf(nf.val, "interface %s listed twice (first on line %d)", ifc.Name, first)
		}
		line[ifc.Name] = nf.val.Line
		if mf, ok := fs["mode"]; ok {
			text, err := p.scalar("mode", mf)
			if err != nil {
				return nil, err
			}
			var ok bool
			if ifc.Mode, ok = parseMode(text); !ok {
				return nil, p.errorf(mf.val, "mode: unknown mode %s (want auto, native or generic)", quoteShort(text))
			}
		}
		out = append(out, ifc)
	}
	return out, nil
}

// parseMode gives the mode m names, any case, in the lower case save
// writes.
func parseMode(m string) (string, bool) {
	for _, ok := range ifaceModes {
		if strings.EqualFold(m, ok) {
			return ok, true
		}
	}
	return "", false
}

// interfacesNode writes the list as the file format has it.
func interfacesNode(list []Interface) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, ifc := range list {
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
		addPair(m, "name", strNode(ifc.Name))
		addPair(m, "mode", strNode(ifc.Mode))
		n.Content = append(n.Content, m)
	}
	if len(list) == 0 {
		n.Style = yaml.FlowStyle
	}
	return n
}

// String gives "eth0 (native)".
func (i Interface) String() string { return fmt.Sprintf("%s (%s)", i.Name, i.Mode) }
