package rules

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// CommentKey is the key of a rule's comment: the flag (--comment), the
// ruleset file key and the stored definition's tag.
const CommentKey = "comment"

// MaxComment is the longest comment a rule may carry, in bytes. A rule's
// stored definition has 500 bytes for everything (layout.RuleDefBytes);
// the comment must leave the conditions most of that room.
const MaxComment = 128

// ValidComment checks a rule comment: free text for people (rule list,
// save, metrics labels, log lines), so one line of printable UTF-8 that
// fits its room. The empty comment is no comment.
func ValidComment(s string) error {
	if len(s) > MaxComment {
		return fmt.Errorf("%d bytes, at most %d", len(s), MaxComment)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	for i, c := range s {
		if !unicode.IsPrint(c) && c != ' ' {
			return fmt.Errorf("control or unprintable character %U at byte %d (a comment is one line of text)", c, i)
		}
	}
	return nil
}
