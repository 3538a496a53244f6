package rules

import "testing"

// TestParseYAMLBadTextLine: a character YAML refuses (a control
// character, bytes that are not UTF-8) is refused at its line; yaml.v3
// names none for them.
func TestParseYAMLBadTextLine(t *testing.T) {
	head := "policy: drop\nrules:\n  - action: pass\n    proto: tcp\n"
	for _, tt := range []struct{ in, want string }{
		{head + "    comment: \x1b[0m ssh\n", "rules.yaml:5: control character U+001B (YAML allows tabs and line breaks only)"},
		{head + "    comment: caf\xe9\n", "rules.yaml:5: byte 0xe9 is not UTF-8 (a ruleset file is UTF-8 text)"},
		{"policy: drop\r\nrules: []\r\n# \x00\r\n", "rules.yaml:3: control character U+0000 (YAML allows tabs and line breaks only)"},
		{"policy: drop\rrules: []\r#\xed\xa0\x80\n", "rules.yaml:3: byte 0xed is not UTF-8 (a ruleset file is UTF-8 text)"},
	} {
		_, err := ParseYAML("rules.yaml", []byte(tt.in), FileOptions{})
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: error = %v\nwant %s", tt.in, err, tt.want)
		}
	}
}
