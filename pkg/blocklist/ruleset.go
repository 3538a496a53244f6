package blocklist

import (
	"fmt"
	"net/netip"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// RulesetOptions lets a ruleset file's sets name blocklist files: each is
// read strictly (any bad line fails the whole file, naming it and the
// line), with the default limits, and must hold at least one element.
func RulesetOptions() rules.FileOptions {
	return RulesetOptionsWith(Options{})
}

// RulesetOptionsWith is RulesetOptions with opt's AllowDefaultRoute and
// MaxSize (its other fields are the set's or ignored).
func RulesetOptionsWith(opt Options) rules.FileOptions {
	return rules.FileOptions{ReadSet: func(path string, fam rules.Family) ([]netip.Prefix, error) {
		s, err := ParseFile(path, Options{Family: fam, AllowDefaultRoute: opt.AllowDefaultRoute, MaxSize: opt.MaxSize})
		if err != nil {
			return nil, err
		}
		// As for set load: an empty feed is more often cut off than
		// meant, and emptying a set a drop rule names opens the firewall.
		if len(s.Prefixes) == 0 {
			return nil, fmt.Errorf("%s has no elements: refusing an empty set from a file (write elements: [] for a set meant to be empty)", path)
		}
		return s.Prefixes, nil
	}}
}
