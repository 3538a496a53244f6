package blocklist

import (
	"net/netip"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// RulesetOptions lets a ruleset file's sets name blocklist files: each is
// read strictly (any bad line fails the whole file, naming it and the
// line).
func RulesetOptions() rules.FileOptions {
	return rules.FileOptions{ReadSet: func(path string, fam rules.Family) ([]netip.Prefix, error) {
		s, err := ParseFile(path, Options{Family: fam})
		if err != nil {
			return nil, err
		}
		return s.Prefixes, nil
	}}
}
