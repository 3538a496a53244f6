package rules

import (
	"reflect"
	"testing"
)

// maxFuzzInput bounds the fuzzers' inputs (and so their memory): the
// parser's behaviour does not depend on size beyond a few rules.
const maxFuzzInput = 16 << 10

// FuzzParseYAML: no input makes ParseYAML panic or hang; what it takes
// has a policy, passes Validate, and reads back the same from FormatYAML.
func FuzzParseYAML(f *testing.F) {
	f.Add([]byte(exampleYAML))
	f.Add([]byte(""))
	f.Add([]byte("# comment\n"))
	f.Add([]byte("policy: drop\n"))
	f.Add([]byte("policy: pass\nsets:\n  bl: {family: ipv4, elements: [192.0.2.0/24, 10.0.0.1]}\nrules:\n  - {src: \"@bl\", action: drop}\n"))
	f.Add([]byte("policy: drop\nrules:\n  - &r {action: drop, dport: 22, tcp-flags: \"syn,!ack\"}\n  - *r\n"))
	f.Add([]byte("rules:\n  - {proto: tcp, dport: 22, action: pass}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		rs, err := ParseYAML("f.yaml", data, FileOptions{})
		if err != nil {
			return
		}
		if err := rs.Validate(); err != nil {
			t.Fatalf("ParseYAML took a ruleset Validate refuses: %v", err)
		}
		out := FormatYAML(rs)
		back, err := ParseYAML("saved.yaml", out, FileOptions{})
		if err != nil {
			t.Fatalf("FormatYAML's output does not parse: %v\n%s", err, out)
		}
		if back.Policy != rs.Policy || len(back.Rules) != len(rs.Rules) || len(back.Sets) != len(rs.Sets) {
			t.Fatalf("round trip changed the ruleset:\n%s", out)
		}
		for i, r := range Sorted(rs.Rules) {
			if b := Sorted(back.Rules)[i]; b.Priority != r.Priority || b.Action != r.Action || !reflect.DeepEqual(b.Match, r.Match) {
				t.Fatalf("round trip changed rule %d: %+v became %+v", i, r, b)
			}
		}
	})
}
