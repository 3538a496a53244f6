package rules

import "fmt"

// LogKey is the key of a rule's log flag: the flag (--log), the ruleset
// file's key (log: true) and its stored form. A logging rule's frames go to
// `xdpfw serve`'s log, one line each, rate-limited. Like the comment, it
// does not change what the rule matches or does: the reference model never
// sees it, and apply pairs rules without it, so turning logging on or off
// keeps the rule's counters.
const LogKey = "log"

// ParseLog reads the log flag's text: true or false.
func ParseLog(s string) (bool, error) {
	switch s {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q: want true or false", s)
}
