package blocklist

import (
	"net/netip"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// RulesetOptions lets a ruleset file's sets name blocklist files: each is
// read strictly (any bad line fails the whole file, naming it and the
// line), with the default limits.
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
		return s.Prefixes, nil
	}}
}
