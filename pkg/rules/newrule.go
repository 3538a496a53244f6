package rules

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is a bad value of one key of a rule ("action" or a
// condition's Key); callers name the key as their syntax does (--dport on
// the command line, dport: in a file, with its line).
type FieldError struct {
	Key string
	Err error
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %v", e.Key, e.Err) }
func (e *FieldError) Unwrap() error { return e.Err }

// NewRule is the rule with this priority, action and conditions (texts by
// condition Key), validated: the one way from text to a Rule, for the CLI
// and ruleset files alike. Conditions are parsed in registry order, so one
// that implies a protocol sees an explicit proto; conds may also hold the
// rule's comment under CommentKey. Its ID is left 0: the live state or the
// file gives it.
func NewRule(priority uint32, action string, conds map[string]string) (Rule, error) {
	r := Rule{Priority: priority}
	if priority > MaxPriority {
		return r, &FieldError{"priority", fmt.Errorf("%d out of range (0-%d)", priority, MaxPriority)}
	}
	var err error
	if r.Action, err = ParseAction(action); err != nil {
		return r, &FieldError{"action", err}
	}
	for _, c := range Conditions {
		s, ok := conds[c.Key]
		if !ok {
			continue
		}
		if err := c.Parse(&r.Match, s); err != nil {
			return r, &FieldError{c.Key, err}
		}
	}
	if err := ambiguousTCPFlags(conds["tcp-flags"]); err != nil {
		return r, &FieldError{"tcp-flags", err}
	}
	if err := checkIfaceText(r.Match.Iface); err != nil {
		return r, &FieldError{"iface", err}
	}
	if s, ok := conds[CommentKey]; ok {
		if err := ValidComment(s); err != nil {
			return r, &FieldError{CommentKey, err}
		}
		// Blank, it reads as no comment in rule list. Refused here, for
		// rule add, not by ValidComment: a rule stored with one before
		// must still read back, and a file takes it (fileParser.rule).
		if s != "" && strings.Trim(s, " ") == "" {
			return r, &FieldError{CommentKey, errors.New("only spaces (write a note, or leave the comment out)")}
		}
		r.Comment = s
	}
	if s, ok := conds[LogKey]; ok {
		if r.Log, err = ParseLog(s); err != nil {
			return r, &FieldError{LogKey, err}
		}
	}
	for key := range conds {
		if key != CommentKey && key != LogKey && ConditionByKey(key) == nil {
			return r, &FieldError{key, errors.New("no such condition")}
		}
	}
	return r, r.Validate()
}
