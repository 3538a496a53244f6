package rules

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// badText finds the first character YAML refuses in data, a UTF-8 text,
// and gives its line (counted as YAML counts them) and what is wrong, or
// line 0 when there is none. yaml.v3 reports such a character by its
// offset only ("control characters are not allowed"), so a ruleset of
// hundreds of lines with one stray escape pasted from a terminal, or a
// comment saved as Latin-1, was refused without a line to look at.
func badText(data []byte) (line int, what string) {
	// A UTF-16 text (by its byte order mark) is decoded by yaml.v3:
	// offsets here would not be its.
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return 0, ""
	}
	line = 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return line, fmt.Sprintf("byte %#02x is not UTF-8 (a ruleset file is UTF-8 text)", data[i])
		case !yamlChar(r):
			return line, fmt.Sprintf("control character %U (YAML allows tabs and line breaks only)", r)
		case r == '\n', r == '\r' && (i+1 == len(data) || data[i+1] != '\n'), r == 0x85, r == 0x2028, r == 0x2029:
			line++
		}
		i += size
	}
	return 0, ""
}

// yamlChar: YAML's printable characters, as yaml.v3's reader takes them.
func yamlChar(r rune) bool {
	return r == 0x09 || r == 0x0a || r == 0x0d || 0x20 <= r && r <= 0x7e || r == 0x85 ||
		0xa0 <= r && r <= 0xd7ff || 0xe000 <= r && r <= 0xfffd || 0x10000 <= r && r <= 0x10ffff
}
