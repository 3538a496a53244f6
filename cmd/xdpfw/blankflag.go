package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// blankFlag refuses the first of names given an empty or blank value, as
// a script's unset variable gives it (--addr "$UNSET"). Read as left
// out, such a value widens what the command does (every flow listed,
// every interface captured, the live ruleset replayed, no metrics
// served), where it was asked to narrow or add something. what names the
// value the flag wants; leftOut says what leaving the flag out does.
func blankFlag(c *cli.Context, what, leftOut string, names ...string) error {
	for _, name := range names {
		if c.IsSet(name) && strings.TrimSpace(c.String(name)) == "" {
			return fmt.Errorf("%s: --%s: an empty %s (%s)", commandPath(c), name, what, leftOut)
		}
	}
	return nil
}
