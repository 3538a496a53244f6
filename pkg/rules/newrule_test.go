package rules

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNewRule(t *testing.T) {
	r, err := NewRule(10, "drop", map[string]string{"dport": "22", "src": "192.0.2.0/24", "tcp-flags": "syn,!ack"})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != 0 || r.Priority != 10 || r.Action != Drop || !r.Match.Proto.Set || r.Match.Proto.Num != 6 || r.Match.Dport.Lo != 22 {
		t.Errorf("got %+v", r)
	}
	for _, tc := range []struct {
		prio   uint32
		action string
		conds  map[string]string
		key    string // the FieldError's key, "" for a rule-level error
		want   string
	}{
		{1, "accept", nil, "action", "unknown action"},
		{MaxPriority + 1, "pass", nil, "priority", "out of range"},
		{1, "pass", map[string]string{"dport": "x"}, "dport", "port"},
		{1, "pass", map[string]string{"dprot": "22"}, "dprot", "no such condition"},
		{1, "pass", map[string]string{"src": "10.0.0.0/8", "dst": "2001:db8::/32"}, "", "famil"},
		// Names the kernel takes but a rule cannot print or save as YAML.
		{1, "drop", map[string]string{"iface": "e\xffth"}, "iface", "not UTF-8"},
		{1, "drop", map[string]string{"iface": "\x1b[31mred"}, "iface", "control or unprintable character U+001B"},
		{1, "drop", map[string]string{"iface": "a\rb"}, "iface", "U+000D"},
		{1, "drop", map[string]string{CommentKey: "   "}, CommentKey, "only spaces (write a note, or leave the comment out)"},
	} {
		_, err := NewRule(tc.prio, tc.action, tc.conds)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %q %v: error %v, want one containing %q", tc.prio, tc.action, tc.conds, err, tc.want)
			continue
		}
		var fe *FieldError
		if got := ""; errors.As(err, &fe) {
			got = fe.Key
			if got != tc.key {
				t.Errorf("%v: the error names key %q, want %q", tc.conds, got, tc.key)
			}
		} else if tc.key != "" {
			t.Errorf("%v: %v is not a FieldError for %q", tc.conds, err, tc.key)
		}
	}
}

// TestNewRuleIfaceSaves: an interface name NewRule takes, ASCII or not,
// is saved as YAML and read back the same.
func TestNewRuleIfaceSaves(t *testing.T) {
	for _, name := range []string{"eth0", "vlan.100", "wan-é", "br_日本"} {
		r, err := NewRule(1, "drop", map[string]string{"iface": name})
		if err != nil {
			t.Errorf("%q: %v", name, err)
			continue
		}
		r.ID = 1
		back, err := ParseYAML("saved.yaml", FormatYAML(&Ruleset{Policy: Pass, Rules: []Rule{r}}), FileOptions{})
		if err != nil || len(back.Rules) != 1 || back.Rules[0].Match.Iface != name {
			t.Errorf("%q: saved and read back: %+v, %v", name, back, err)
		}
	}
}

// TestBlankComment: a comment of only spaces is refused as rule add
// takes it, while a file's is taken as written (the previous release
// saved it so: save | apply -f - of a state holding one, and the boot's
// apply of that release's file, were refused) and a stored rule that has
// one still validates; the empty comment stays no comment.
func TestBlankComment(t *testing.T) {
	if r, err := NewRule(1, "drop", map[string]string{CommentKey: ""}); err != nil || r.Comment != "" {
		t.Errorf("empty comment: %+v, %v", r, err)
	}
	if _, err := NewRule(1, "drop", map[string]string{CommentKey: "  "}); err == nil {
		t.Errorf("rule add takes a blank comment")
	}
	stored := &Ruleset{Policy: Pass, Rules: []Rule{{ID: 1, Priority: DefaultPriority, Action: Drop, Comment: "  "}}}
	rs, err := ParseYAML("saved.yaml", FormatYAML(stored), FileOptions{})
	if err != nil || len(rs.Rules) != 1 || rs.Rules[0] != stored.Rules[0] {
		t.Errorf("a saved blank comment read back: %v, %v", rs, err)
	}
	if err := (Rule{ID: 1, Action: Drop, Comment: "  "}).Validate(); err != nil {
		t.Errorf("Validate refuses a stored rule's blank comment: %v", err)
	}
}

// TestTCPFlagsList: a bare list of two or more flags ("syn,ack") means
// all set, where nftables reads it as any, so rule add refuses it,
// naming both unambiguous spellings; a file's is taken as all set with a
// warning, and save writes the "/" form, which reads back the same with
// none. One flag, a "!" or a mask read one way and are taken.
func TestTCPFlagsList(t *testing.T) {
	want := `tcp-flags: "syn,ack" means all these flags set, but nftables reads it as any of them: write "syn,ack / syn,ack" for all, or a rule per flag for any`
	if _, err := NewRule(1, "drop", map[string]string{"tcp-flags": "syn,ack"}); err == nil || err.Error() != want {
		t.Errorf("rule add --tcp-flags syn,ack: %v, want %s", err, want)
	}
	for _, s := range []string{"syn", "syn,!ack", "syn,ack / syn,ack", "syn / syn,ack", "!syn,!ack"} {
		if _, err := NewRule(1, "drop", map[string]string{"tcp-flags": s}); err != nil {
			t.Errorf("rule add --tcp-flags %q: %v", s, err)
		}
	}
	rs, err := ParseYAML("old.yaml", []byte("policy: pass\nrules:\n  - {proto: udp, action: pass}\n  - {tcp-flags: 'fin,SYN, ack', action: drop}\n"), FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all := TCPFlags{Set: true, Mask: 0x13, Value: 0x13}
	warn := []string{`old.yaml:4: rule #2: tcp-flags: "fin,SYN, ack" means all these flags set, but nftables reads it as any of them: write "fin,syn,ack / fin,syn,ack" for all, or a rule per flag for any`}
	if got := warningTexts(rs); rs.Rules[1].Match.TCPFlags != all || !slices.Equal(got, warn) || rs.Warnings[0].Kind != WarnTCPFlags {
		t.Errorf("a file's fin,SYN, ack: %+v, warnings %q; want %+v, %q", rs.Rules[1].Match.TCPFlags, got, all, warn)
	}
	saved := FormatYAML(rs)
	back, err := ParseYAML("saved.yaml", saved, FileOptions{})
	if err != nil || !slices.Equal(back.Rules, rs.Rules) || back.Warnings != nil {
		t.Errorf("save read back: %v, %+v, warnings %q; want %+v and none\n%s", err, back.Rules, warningTexts(back), rs.Rules, saved)
	}
	if !bytes.Contains(saved, []byte("tcp-flags: fin,syn,ack / fin,syn,ack")) {
		t.Errorf("save wrote\n%s", saved)
	}
}

// warningTexts are rs's warnings as the CLI prints them (file:line: ...).
func warningTexts(rs *Ruleset) []string {
	var out []string
	for _, w := range rs.Warnings {
		out = append(out, w.Error())
	}
	return out
}
