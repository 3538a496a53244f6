package rules

import (
	"bytes"
	"strings"
	"testing"
)

// TestParseYAMLAnyCase: every word a ruleset file's values are read from
// is read in any case (DROP, Tcp, ESTABLISHED, NATIVE), as nftables and
// rule add read them: ct-state and an interface's mode were refused in
// upper case where proto, action and policy were not. The file is the
// one its lower-case spelling is (FormatYAML writes the lower case), so
// save, apply, save changes nothing. Interface and set names are names,
// not words: eth0 and ETH0 are two interfaces, @s and @S two sets.
func TestParseYAMLAnyCase(t *testing.T) {
	const file = `sets:
  s: {family: INET, elements: [192.0.2.0/24]}
rules:
  - {src: "@s", action: DROP}
  - {proto: Tcp, tcp-flags: "SYN,!Ack", action: Pass}
  - {family: IPv6, proto: ICMPv6, icmpv6-type: Echo-Request, action: pass}
  - {proto: icmp, icmp-type: ECHO-REPLY, action: pass}
  - {fragment: Non-First, vlan: UNTAGGED, dscp: EF, action: drop}
  - {ct-state: "ESTABLISHED,Related", action: pass}
  - {ct-state: New, proto: UDP, dport: 53, action: pass}
interfaces:
  - {name: eth0, mode: NATIVE}
  - {name: eth1, mode: Generic}
  - {name: eth2, mode: Auto}
policy: Drop
`
	upper, err := ParseYAML("upper.yaml", []byte(file), FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lower, err := ParseYAML("lower.yaml", []byte(strings.ToLower(file)), FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	saved := FormatYAML(upper)
	if want := FormatYAML(lower); !bytes.Equal(saved, want) {
		t.Errorf("the file in mixed case saves as\n%s\nwant (its lower case)\n%s", saved, want)
	}
	if bytes.ContainsFunc(saved, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
		t.Errorf("saved with upper case:\n%s", saved)
	}
	back, err := ParseYAML("saved.yaml", saved, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again := FormatYAML(back); !bytes.Equal(again, saved) {
		t.Errorf("save, apply, save changed the file:\n%s\nthen\n%s", saved, again)
	}
}

// TestParseCTStatesAnyCase: ct-state reads its words in any case (rule
// add --ct-state ESTABLISHED), the same state twice in two cases still
// refused as named twice.
func TestParseCTStatesAnyCase(t *testing.T) {
	got, err := ParseCTStates("ESTABLISHED,Related,new,InValid")
	if err != nil || got != CTEstablished|CTRelated|CTNew|CTInvalid {
		t.Errorf("ParseCTStates: %v, %v", got, err)
	}
	if _, err := ParseCTStates("established,Established"); err == nil || !strings.Contains(err.Error(), "named twice") {
		t.Errorf("established,Established: %v, want named twice", err)
	}
}
