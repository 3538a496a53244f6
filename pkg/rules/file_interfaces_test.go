package rules

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseYAMLInterfaces(t *testing.T) {
	for _, tt := range []struct {
		text string
		want []Interface
	}{
		{"policy: drop\n", nil},
		{"policy: drop\ninterfaces: []\n", []Interface{}},
		{"policy: drop\ninterfaces:\n  - {name: eth0, mode: native}\n  - name: eth1\n", []Interface{{"eth0", "native"}, {"eth1", "auto"}}},
	} {
		rs, err := ParseYAML("f.yaml", []byte(tt.text), FileOptions{})
		if err != nil || !reflect.DeepEqual(rs.Interfaces, tt.want) || (tt.want != nil) != (rs.Interfaces != nil) {
			t.Errorf("ParseYAML(%q).Interfaces = %#v, %v; want %#v", tt.text, rs.Interfaces, err, tt.want)
			continue
		}
		// FormatYAML writes the list back, nil as no key at all.
		back, err := ParseYAML("back.yaml", FormatYAML(rs), FileOptions{})
		if err != nil || !reflect.DeepEqual(back.Interfaces, rs.Interfaces) {
			t.Errorf("round trip of %q: %#v, %v\n%s", tt.text, back.Interfaces, err, FormatYAML(rs))
		}
	}
	for _, tt := range []struct{ text, want string }{
		{"policy: drop\ninterfaces: eth0\n", `f.yaml:2: interfaces: want a list like [{name: eth0, mode: native}], got str "eth0"`},
		{"policy: drop\ninterfaces: [eth0]\n", `f.yaml:2: interface: want a mapping`},
		{"policy: drop\ninterfaces: [{mode: native}]\n", "f.yaml:2: interface has no name"},
		{"policy: drop\ninterfaces: [{name: eth0, mode: fast}]\n", `f.yaml:2: mode: unknown mode "fast" (want auto, native or generic)`},
		{"policy: drop\ninterfaces: [{name: eth0, speed: 10}]\n", `f.yaml:2: unknown field "speed"`},
		{"policy: drop\ninterfaces:\n  - {name: eth0}\n  - {name: eth0}\n", "f.yaml:4: interface eth0 listed twice (first on line 3)"},
		{"policy: drop\ninterfaces: [{name: a/b}]\n", `f.yaml:2: invalid interface name "a/b"`},
	} {
		_, err := ParseYAML("f.yaml", []byte(tt.text), FileOptions{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseYAML(%q) error = %v, want %q", tt.text, err, tt.want)
		}
	}
}
